"""Apply the Alembic revisions programmatically (no alembic.ini to find)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, pool

from migrations.database import database_url, sync_engine_url

_HERE = Path(__file__).resolve().parent


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    # ConfigParser interpolation would choke on a literal '%' in a password.
    config.set_main_option("sqlalchemy.url", sync_engine_url(url).replace("%", "%%"))
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the database at ``url`` (default: the configured one) up to ``revision``."""
    command.upgrade(_config(url or database_url()), revision)


def current_revision(url: str | None = None) -> str | None:
    """Return the revision the database is at, or None for an empty database."""
    engine = create_engine(sync_engine_url(url or database_url()), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
