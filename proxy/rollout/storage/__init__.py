"""Keep rollout plans, history, the autopilot lease and worker figures beside the flag table.

:func:`rollout_store_for` builds the backend that matches a flag store (same SQLite file, same
Redis server and key prefix, same PostgreSQL database); drivers not used are never imported.
"""

from __future__ import annotations

from proxy.flags.stores.base import FlagStore
from proxy.rollout.storage.base import (
    UNCONDITIONAL,
    HistoryEntry,
    Lease,
    PlanDocument,
    RolloutStore,
)

__all__ = [
    "UNCONDITIONAL",
    "HistoryEntry",
    "Lease",
    "PlanDocument",
    "RolloutStore",
    "rollout_store_for",
]


def rollout_store_for(store: FlagStore) -> RolloutStore:
    """Return the (unopened) rollout store that lives with ``store``."""
    kind = type(store).__name__
    if kind == "SQLiteFlagStore":
        from proxy.rollout.storage.sqlite import SQLiteRolloutStore

        return SQLiteRolloutStore(store.path)  # type: ignore[attr-defined]
    if kind == "RedisFlagStore":
        from proxy.rollout.storage.redis import RedisRolloutStore

        return RedisRolloutStore(store.url, prefix=store.prefix)  # type: ignore[attr-defined]
    if kind == "PostgresFlagStore":
        from proxy.rollout.storage.postgres import PostgresRolloutStore

        return PostgresRolloutStore(store.url)  # type: ignore[attr-defined]
    raise TypeError(f"no rollout store for {kind}")
