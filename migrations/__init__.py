"""The shared Resync database: schema upgrades (Alembic) and demo seeding.

Owned by neither app. ``RESYNC_DATABASE_URL`` is written in its plain form
(``sqlite:///var/resync.db``, ``postgresql://user@host/db``); each consumer picks its own driver.

The URL helpers and seeding are imported at once; the schema half (Alembic, Mako) loads on first
use, so a server that only needs :func:`sync_engine_url` (the strangler proxy checking admin
tokens) does not carry Alembic in every worker.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from migrations.database import DEFAULT_DATABASE_URL, database_url, sync_engine_url
from migrations.seed import SeedReport, seed

if TYPE_CHECKING:
    from migrations.schema import current_revision, upgrade

__all__ = [
    "DEFAULT_DATABASE_URL",
    "SeedReport",
    "current_revision",
    "database_url",
    "seed",
    "sync_engine_url",
    "upgrade",
]

_LAZY = {
    "current_revision": "migrations.schema",
    "upgrade": "migrations.schema",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'migrations' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
