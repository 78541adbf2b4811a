"""The shared database as this app sees it: one async engine and Core tables."""

from __future__ import annotations

from resync_fastapi.db import tables
from resync_fastapi.db.engine import create_engine, utcnow

__all__ = ["create_engine", "tables", "utcnow"]
