"""The Resync API as it runs today: a Flask 3 (WSGI, synchronous) app.

Run it with ``gunicorn -c legacy_flask/gunicorn.conf.py "legacy_flask:create_app()"``.
It shares the database schema with the FastAPI app and nothing else.
"""

from __future__ import annotations

from legacy_flask.config import Settings, load_settings
from legacy_flask.errors import ConfigurationError, LegacyFlaskError
from legacy_flask.factory import AppState, create_app

__all__ = [
    "AppState",
    "ConfigurationError",
    "LegacyFlaskError",
    "Settings",
    "create_app",
    "load_settings",
]
