"""Alembic environment: run the shared schema's revisions against the URL we are given."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config


def run_migrations_online() -> None:
    """Connect with the URL the caller put in the config and apply the revisions."""
    url = config.get_main_option("sqlalchemy.url")
    assert url, "migrations.upgrade() sets sqlalchemy.url"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():  # pragma: no cover - offline SQL generation is not supported
    raise SystemExit("offline migrations are not supported; pass a database URL")
run_migrations_online()
