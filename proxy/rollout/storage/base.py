"""Define where rollout plans, their history, the autopilot lease and worker figures live.

They live with the flag table, in the same SQLite file, Redis key space or PostgreSQL database,
in tables (keys) of their own, so a deployment has one store to run, back up and point workers
at. Each backend opens its own connections next to the flag store's: the flag store's interface
stays the flag table's, and the hot path never touches any of this.

- **Plans**: route -> a JSON document (the plan and its state) with a revision; writes are a
  compare-and-set on the revision (:class:`~proxy.errors.VersionConflict` when it lost), so an
  operator's pause and the autopilot's step never overwrite each other.
- **History**: every step, rollback, pause... as a JSON document, newest first.
- **Lease**: one named lease with a holder, an expiry and a *term* that grows by one at every
  change of holder. :meth:`RolloutStore.acquire` takes a free or expired lease, renews one
  already held, and otherwise says who holds it. A killed holder stops renewing and its lease
  expires after its time to live; the next worker to ask takes it over.
- **Worker figures**: each worker's cumulative counters (:mod:`proxy.rollout.measure`), one
  document per worker id, replaced at every publish and pruned when old.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

__all__ = ["UNCONDITIONAL", "HistoryEntry", "Lease", "PlanDocument", "RolloutStore"]

#: ``expected_revision`` meaning "write whatever is there" (0 means "only if absent").
UNCONDITIONAL = -1


@dataclass(frozen=True, slots=True)
class PlanDocument:
    """A stored plan document and the revision it was read at."""

    route: str
    revision: int
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One recorded rollout event."""

    id: int
    route: str
    at: float
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds the lease now, since which term, and for how many more seconds."""

    holder: str
    term: int
    expires_in: float

    def held_by(self, holder: str) -> bool:
        return self.holder == holder


class RolloutStore(ABC):
    """Plans, history, the lease and worker figures, next to one flag store."""

    @abstractmethod
    async def open(self) -> None:
        """Connect and create the tables or keys when missing."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""

    # plans --------------------------------------------------------------------------------------
    @abstractmethod
    async def plans(self) -> list[PlanDocument]:
        """Every plan document, by route."""

    @abstractmethod
    async def plan(self, route: str) -> PlanDocument | None:
        """One route's plan document, or ``None``."""

    @abstractmethod
    async def put_plan(
        self, route: str, body: dict[str, Any], *, expected_revision: int = UNCONDITIONAL
    ) -> int:
        """Write a plan document; return its new revision (raises VersionConflict)."""

    @abstractmethod
    async def delete_plan(self, route: str, *, expected_revision: int = UNCONDITIONAL) -> bool:
        """Remove a plan; return whether there was one (raises VersionConflict)."""

    # history ------------------------------------------------------------------------------------
    @abstractmethod
    async def record(self, route: str, body: dict[str, Any]) -> None:
        """Append a history entry for ``route``."""

    @abstractmethod
    async def history(self, *, route: str | None = None, limit: int = 50) -> list[HistoryEntry]:
        """History entries newest first, optionally for one route."""

    # lease --------------------------------------------------------------------------------------
    @abstractmethod
    async def acquire(self, name: str, holder: str, ttl: float) -> Lease:
        """Take or renew lease ``name`` for ``holder``; return the lease as it now stands."""

    @abstractmethod
    async def release(self, name: str, holder: str) -> None:
        """Give lease ``name`` up if ``holder`` holds it (a clean shutdown)."""

    @abstractmethod
    async def lease(self, name: str) -> Lease | None:
        """The lease as it stands, or ``None`` when nobody holds it."""

    # worker figures -----------------------------------------------------------------------------
    @abstractmethod
    async def publish(self, worker: str, body: dict[str, Any]) -> None:
        """Replace ``worker``'s published figures."""

    @abstractmethod
    async def collect(self, *, max_age: float) -> dict[str, dict[str, Any]]:
        """Every worker's figures published within ``max_age`` seconds; older ones are pruned."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
