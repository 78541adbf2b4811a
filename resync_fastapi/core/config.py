"""Read the app's settings from ``RESYNC_*`` environment variables.

The defaults run on one machine with nothing installed; production refuses to start with a
missing or short secret because every token the app signs would be forgeable.

A plain pydantic model filled from the environment the way pydantic-settings would (prefix
``RESYNC_``, names case-insensitive, values given to the constructor win, unknown names
ignored, no ``.env`` file): every setting is a scalar, and pydantic-settings with its providers
(CLI, dotenv, cloud secrets, argparse) costs the server about 1.2 MiB resident for nothing.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["DEV_SECRET_KEY", "ENV_PREFIX", "Settings", "async_database_url"]

DEV_SECRET_KEY = "resync-dev-secret-key-not-for-production-0001"  # noqa: S105 - dev default
MIN_PRODUCTION_SECRET_BYTES = 32
ENV_PREFIX = "RESYNC_"


class Settings(BaseModel):
    """Everything the FastAPI app reads from its environment."""

    model_config = ConfigDict(extra="ignore", validate_default=True)

    env: Literal["development", "test", "production"] = "development"
    secret_key: str = DEV_SECRET_KEY
    database_url: str = "sqlite:///var/resync.db"
    tws_url: str = "http://127.0.0.1:8100/twsd"
    tws_user: str = "twsuser"
    tws_password: str = "twspass"  # noqa: S105 - the simulator's documented default
    tws_timeout: float = Field(default=5.0, gt=0)
    tws_max_connections: int = Field(default=100, ge=1)
    rag_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1)
    log_level: str = "INFO"
    dry_run_key: str | None = None
    # Connections are held only around database work (never across a TWS call), so the pool
    # bounds concurrent queries, not concurrent requests. Every database, SQLite included;
    # unset means the database's default (SQLITE_POOL / POSTGRES_POOL in resync_fastapi.db).
    db_pool_size: int | None = Field(default=None, ge=1)
    db_max_overflow: int | None = Field(default=None, ge=0)
    db_pool_timeout: float = Field(default=5.0, gt=0)
    # Seconds between re-reads of the shared auth version (the bound on how long a revocation,
    # role change or deletion made elsewhere can go unnoticed); 0 turns the auth cache off.
    auth_cache_seconds: float = Field(default=1.0, ge=0)
    # Rendered list pages kept while the database has not changed: SQLite's data version (seen
    # on the very next request after a commit anywhere) or PostgreSQL's NOTIFY (seen once the
    # notification arrives; resync_fastapi/db/page_cache.py). False: every request reads.
    page_cache: bool = True

    @model_validator(mode="before")
    @classmethod
    def _read_environment(cls, values: Any) -> Any:
        # Constructor arguments first, then RESYNC_<NAME> (any case), then the defaults.
        if not isinstance(values, dict):
            return values
        prefix = ENV_PREFIX.lower()
        found = {
            name.lower()[len(prefix) :]: value
            for name, value in os.environ.items()
            if name.lower().startswith(prefix)
        }
        from_env = {field: found[field] for field in cls.model_fields if field in found}
        return {**from_env, **values}

    @model_validator(mode="after")
    def _refuse_weak_production_secret(self) -> Settings:
        if self.env == "production" and (
            self.secret_key == DEV_SECRET_KEY
            or len(self.secret_key.encode("utf-8")) < MIN_PRODUCTION_SECRET_BYTES
        ):
            raise ValueError(
                "RESYNC_SECRET_KEY must be set to at least "
                f"{MIN_PRODUCTION_SECRET_BYTES} bytes when RESYNC_ENV=production"
            )
        return self


def async_database_url(url: str) -> str:
    """Map the plain ``RESYNC_DATABASE_URL`` to SQLAlchemy's async drivers."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    return url
