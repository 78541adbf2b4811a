"""Name the database: the configured URL and its synchronous driver form."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///var/resync.db"


def database_url() -> str:
    """Return ``RESYNC_DATABASE_URL`` or the development default (a file under ``var/``)."""
    return os.environ.get("RESYNC_DATABASE_URL", DEFAULT_DATABASE_URL)


def sync_engine_url(url: str) -> str:
    """Map a plain URL to SQLAlchemy's synchronous drivers (psycopg 3 for PostgreSQL).

    Also creates the parent folder of a SQLite file so a fresh clone needs no set-up.
    """
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return url
