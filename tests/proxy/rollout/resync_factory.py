"""The Resync proxy with the new app on a TWS of its own, to inject faults into one side only.

``uvicorn --factory tests.proxy.rollout.resync_factory:create_proxy --workers 2``: exactly what
:func:`proxy.resync.create_resync_proxy` builds, except that the FastAPI app calls the TWS at
``TEST_NEW_TWS_URL`` (a second simulator) while the legacy app keeps ``RESYNC_TWS_URL``.
"""

from __future__ import annotations

import os
import secrets

from proxy.app import StranglerProxy, create_proxy
from proxy.resync import ResyncTokenVerifier, open_flag_store
from proxy.settings import ProxySettings
from proxy.shadow.runner import ShadowRunner
from proxy.telemetry.metrics import ProxyMetrics


def create_proxy_with_own_new_tws() -> StranglerProxy:
    import legacy_flask
    from resync_fastapi.core.config import Settings as NewSettings
    from resync_fastapi.main import create_app as create_new_app

    settings = ProxySettings()
    dry_run_key = secrets.token_urlsafe(32)
    new_settings = NewSettings(dry_run_key=dry_run_key, tws_url=os.environ["TEST_NEW_TWS_URL"])
    metrics = ProxyMetrics()
    return create_proxy(
        legacy_flask.create_app({"DRY_RUN_KEY": dry_run_key}),
        create_new_app(new_settings),
        open_flag_store(settings),
        settings,
        token_verifier=ResyncTokenVerifier(
            new_settings.secret_key, database_url=new_settings.database_url
        ),
        shadow_runner=ShadowRunner.from_settings(settings, metrics, dry_run_key),
        metrics=metrics,
    )
