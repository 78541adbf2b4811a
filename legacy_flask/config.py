"""Read the app's settings from ``RESYNC_*`` environment variables and a test override.

The legacy app predates pydantic-settings, so this is a plain frozen dataclass filled from the
environment; ``create_app(test_config)`` may override any field by its upper-case name
(``DATABASE_URL``, ``TWS_URL``, ``SECRET_KEY``...). Production refuses a missing or short secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from legacy_flask.errors import ConfigurationError

__all__ = ["DEVELOPMENT_SECRET_KEY", "Settings", "load_settings"]

DEVELOPMENT_SECRET_KEY = "resync-dev-secret-key-not-for-production-0001"  # noqa: S105
ENVIRONMENTS = ("development", "test", "production")
MIN_PRODUCTION_SECRET_BYTES = 32


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment."""

    env: str = "development"
    secret_key: str = DEVELOPMENT_SECRET_KEY
    database_url: str = "sqlite:///var/resync.db"
    tws_url: str = "http://127.0.0.1:8100/twsd"
    tws_user: str = "twsuser"
    tws_password: str = "twspass"  # noqa: S105
    tws_timeout: float = 5.0
    rag_max_bytes: int = 5_242_880
    log_level: str = "INFO"
    dry_run_key: str | None = None
    # The same pool settings as the FastAPI app; the default outnumbers gunicorn's threads.
    db_pool_size: int = 10
    db_max_overflow: int = 20
    db_pool_timeout: float = 5.0

    @property
    def is_production(self) -> bool:
        return self.env == "production"


def _coerce(name: str, kind: str, value: Any) -> Any:
    if value is None:
        return None
    try:
        if kind == "float":
            return float(value)
        if kind == "int":
            return int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"RESYNC_{name.upper()} must be a number") from exc
    return str(value)


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build settings: defaults, then ``RESYNC_<NAME>`` variables, then ``overrides[NAME]``."""
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    values: dict[str, Any] = {}
    for field in fields(Settings):
        upper = field.name.upper()
        kind = str(field.type).split(" ")[0]
        if upper in overrides:
            values[field.name] = _coerce(upper, kind, overrides[upper])
        elif f"RESYNC_{upper}" in environ:
            values[field.name] = _coerce(upper, kind, environ[f"RESYNC_{upper}"])
    secret_given = "secret_key" in values and bool(values["secret_key"])
    if not values.get("dry_run_key"):
        values["dry_run_key"] = None
    settings = Settings(**values)
    if settings.env not in ENVIRONMENTS:
        raise ConfigurationError(f"RESYNC_ENV must be one of {', '.join(ENVIRONMENTS)}")
    if settings.is_production and (
        not secret_given
        or settings.secret_key == DEVELOPMENT_SECRET_KEY
        or len(settings.secret_key.encode()) < MIN_PRODUCTION_SECRET_BYTES
    ):
        raise ConfigurationError(
            "production needs RESYNC_SECRET_KEY of at least "
            f"{MIN_PRODUCTION_SECRET_BYTES} bytes (not the development default)"
        )
    if not settings.secret_key:
        raise ConfigurationError("RESYNC_SECRET_KEY must not be empty")
    if settings.tws_timeout <= 0:
        raise ConfigurationError("RESYNC_TWS_TIMEOUT must be positive")
    if settings.db_pool_size < 1 or settings.db_max_overflow < 0 or settings.db_pool_timeout <= 0:
        raise ConfigurationError(
            "RESYNC_DB_POOL_SIZE must be at least 1, RESYNC_DB_MAX_OVERFLOW at least 0 and "
            "RESYNC_DB_POOL_TIMEOUT positive"
        )
    if settings.rag_max_bytes <= 0:
        raise ConfigurationError("RESYNC_RAG_MAX_BYTES must be positive")
    return settings
