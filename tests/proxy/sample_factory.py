"""``uvicorn --factory tests.proxy.sample_factory:create_sample_proxy``: the sample proxy.

Used by tests that need real server processes (several workers sharing one flag store); the
settings come from ``STRANGLER_*`` variables like the Resync proxy's.
"""

from __future__ import annotations

from proxy.app import StranglerProxy
from proxy.settings import ProxySettings
from tests.proxy.harness import make_proxy


def create_sample_proxy() -> StranglerProxy:
    """Build the sample proxy from the environment."""
    return make_proxy(ProxySettings())
