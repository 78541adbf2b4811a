"""The shared Resync database: schema upgrades (Alembic) and demo seeding.

Owned by neither app. ``RESYNC_DATABASE_URL`` is written in its plain form
(``sqlite:///var/resync.db``, ``postgresql://user@host/db``); each consumer picks its own driver.
"""

from __future__ import annotations

from migrations.database import DEFAULT_DATABASE_URL, database_url, sync_engine_url
from migrations.schema import current_revision, upgrade
from migrations.seed import SeedReport, seed

__all__ = [
    "DEFAULT_DATABASE_URL",
    "SeedReport",
    "current_revision",
    "database_url",
    "seed",
    "sync_engine_url",
    "upgrade",
]
