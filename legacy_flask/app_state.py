"""Hold what one app instance owns, reachable from any view through ``state()``."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import Engine

from legacy_flask.config import Settings
from legacy_flask.passwords import Passwords
from legacy_flask.tokens import TokenService
from legacy_flask.tws import TwsClient

__all__ = ["EXTENSION_KEY", "AppState", "state"]

EXTENSION_KEY = "resync_legacy"


@dataclass
class AppState:
    """One app's settings and pooled clients (database engine, TWS session, token signer)."""

    settings: Settings
    engine: Engine
    tws: TwsClient
    tokens: TokenService
    passwords: Passwords

    def close(self) -> None:
        """Release the database pool and the TWS connections (tests, shutdown)."""
        self.tws.close()
        self.engine.dispose()


def state() -> AppState:
    """Return the current app's :class:`AppState`."""
    app_state: AppState = current_app.extensions[EXTENSION_KEY]
    return app_state
