"""``uvicorn --factory tests.proxy.sample_factory:create_sample_proxy``: the sample proxy.

Used by tests that need real server processes (several workers sharing one flag store); the
settings come from ``STRANGLER_*`` variables like the Resync proxy's. Kept free of pytest and the
shared fixtures so a worker process starts quickly.
"""

from __future__ import annotations

from proxy.app import StranglerProxy, create_proxy
from proxy.flags.stores import open_store
from proxy.settings import ProxySettings
from tests.proxy.sample_apps import create_legacy_app, create_new_app, verify_token


def create_sample_proxy() -> StranglerProxy:
    """Build the sample proxy from the environment."""
    settings = ProxySettings()
    return create_proxy(
        create_legacy_app(),
        create_new_app(),
        open_store(settings.flag_store_url, poll_interval=settings.poll_interval),
        settings,
        token_verifier=verify_token,
    )
