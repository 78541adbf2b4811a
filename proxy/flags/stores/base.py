"""Define the flag store interface and the rules every store applies the same way.

A store holds the flag table, its version and the history of changes. Every change is a
compare-and-set on the version: it applies all its route changes or none, bumps the version by one
and appends one event per route that actually changed. Workers never read the store on the hot
path; they keep a table in memory and reload it when :meth:`FlagStore.subscribe` (the one
change detector, which a :class:`~proxy.flags.watcher.FlagWatcher` runs) reports a new version
or a failed check.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Self, TypeVar

import structlog

from proxy.clock import utc_now
from proxy.errors import InvalidFlag, StoreUnavailable
from proxy.modes import FlagChange, FlagEvent, FlagTable, RouteFlag

__all__ = [
    "CheckCallback",
    "FlagStore",
    "PlannedChange",
    "StoreIdentity",
    "VersionCallback",
    "check_page",
    "new_store_id",
    "plan_changes",
    "retry_once_if_unavailable",
    "utc_now",
]

T = TypeVar("T")

VersionCallback = Callable[[int], Awaitable[None]]
#: Hears each check of a subscription: the identity read, or why the store could not be read.
CheckCallback = Callable[["StoreIdentity | Exception"], Awaitable[None]]

log = structlog.get_logger("proxy.flags.stores")

MAX_POLL_BACKOFF = 5.0


def check_page(limit: int, offset: int) -> None:
    """Reject a negative page size or offset (backends read them as "no limit")."""
    if limit < 0 or offset < 0:
        raise ValueError(f"limit and offset must not be negative (got {limit}, {offset})")


async def retry_once_if_unavailable(operation: Callable[[], Awaitable[T]]) -> T:
    """Run ``operation`` and, if the store was unreachable, run it once more.

    A pooled connection that the server dropped while it sat idle (a restart, ``CLIENT KILL``,
    ``pg_terminate_backend``) fails the first command sent on it; drivers do not retry inside a
    transaction, so without this the first change after a server restart would fail. Retrying a
    change set is safe because it is declarative: if the first attempt did commit, the second
    finds nothing left to change (or, with ``expected_version``, reports a conflict).
    """
    try:
        return await operation()
    except StoreUnavailable:
        return await operation()


def new_store_id() -> str:
    """A fresh store identity (written once, when a store is created or adopted)."""
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class StoreIdentity:
    """Which store this is and at which version: what a watcher checks before it loads.

    ``store_id`` is a UUID written when the store was created (``None`` only for a store made
    before identities existed and never opened since); ``replaces`` is the id the store was
    declared to succeed by ``resync-strangler flags adopt``.
    """

    store_id: str | None
    version: int
    replaces: str | None = None

    def as_json(self) -> dict[str, object]:
        return {"store_id": self.store_id, "version": self.version, "replaces": self.replaces}


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """A route whose flag a change set really alters: its new flag and the mode it had."""

    flag: RouteFlag
    from_mode: str | None


def plan_changes(
    current: Mapping[str, RouteFlag],
    changes: Sequence[FlagChange],
    *,
    actor: str,
    at: datetime,
) -> list[PlannedChange]:
    """Work out which routes a change set alters, in the order the changes were given.

    A change that leaves mode, percent and dry-run as they are is not a change (no event, and a
    change set made only of those does not bump the version). Naming a route twice is ambiguous
    and rejected rather than letting the last one silently win.
    """
    if not actor or not actor.strip():
        raise InvalidFlag("actor must not be empty")
    seen: set[str] = set()
    planned: list[PlannedChange] = []
    for change in changes:
        if not isinstance(change, FlagChange):
            raise InvalidFlag(f"expected a FlagChange, not {type(change).__name__}")
        if change.route in seen:
            raise InvalidFlag("route named twice in one change set", route=change.route)
        seen.add(change.route)
        before = current.get(change.route)
        dry_run = change.dry_run if change.dry_run is not None else bool(before and before.dry_run)
        if (
            before is not None
            and before.mode == change.mode
            and before.percent == change.percent
            and before.dry_run == dry_run
        ):
            continue
        flag = RouteFlag(
            route=change.route,
            mode=change.mode,
            percent=change.percent,
            dry_run=dry_run,
            updated_at=at,
            updated_by=actor,
        )
        planned.append(PlannedChange(flag, before.mode.value if before is not None else None))
    return planned


class FlagStore(ABC):
    """Where the flag table lives: SQLite, Redis or PostgreSQL behind one interface.

    Use as ``async with store:`` or call :meth:`open` and :meth:`close`. Methods raise
    :class:`~proxy.errors.StoreUnavailable` when the backend cannot be reached,
    :class:`~proxy.errors.VersionConflict` when a compare-and-set loses, and
    :class:`~proxy.errors.InvalidFlag` for a malformed change set.
    """

    #: Seconds between two checks in :meth:`subscribe`: the change detector for stores without
    #: push notifications, a safety net for those that have them, and every store's health check.
    poll_interval: float = 1.0

    @abstractmethod
    async def open(self) -> None:
        """Connect; never create the store.

        Raises :class:`~proxy.errors.StoreMissing` when the store does not exist (the
        connection is kept: :meth:`create` may follow) and
        :class:`~proxy.errors.StoreUnavailable` when it cannot be reached. A store made before
        store identities existed gets its identity here.
        """

    @abstractmethod
    async def create(self) -> bool:
        """Open and create the store (tables or keys, a new identity) if it does not exist.

        Returns whether it was created; an existing store is left as it is. Only explicit
        commands (``resync-strangler flags init``) and a proxy's first start with its flag
        file call this: every other writer refuses a missing store.
        """

    @abstractmethod
    async def identity(self) -> StoreIdentity:
        """Return the store's identity and version in one read (what watchers poll)."""

    @abstractmethod
    async def adopt(self, replaces: str) -> StoreIdentity:
        """Give the store a new identity declared to replace the store ``replaces``.

        Watchers serving ``replaces`` accept this store at whatever version it is: the
        operator's explicit word that this store is now the one to serve.
        """

    @abstractmethod
    async def close(self) -> None:
        """Release connections; the store can be opened again."""

    @abstractmethod
    async def load(self) -> FlagTable:
        """Return the whole flag table and the version it was read at (one consistent read)."""

    @abstractmethod
    async def version(self) -> int:
        """Return the table's current version (cheap: what pollers call)."""

    async def set_flags(
        self,
        changes: Sequence[FlagChange],
        *,
        actor: str,
        reason: str,
        expected_version: int | None = None,
    ) -> FlagTable:
        """Apply ``changes`` atomically and return the resulting table.

        Raises :class:`~proxy.errors.VersionConflict` when ``expected_version`` is given and the
        table is at another version. When nothing actually changes, the version stays and no
        event is written; the current table is returned. A store whose connections are pooled
        (:attr:`retries_unavailable`) tries once more when the first attempt found it
        unreachable (:func:`retry_once_if_unavailable`).
        """
        listed = list(changes)

        async def attempt() -> FlagTable:
            return await self._set_flags(listed, actor, reason, expected_version)

        if self.retries_unavailable:
            return await retry_once_if_unavailable(attempt)
        return await attempt()

    #: Whether :meth:`set_flags` retries once on :class:`~proxy.errors.StoreUnavailable`: a
    #: pooled connection the server dropped while idle fails its first command.
    retries_unavailable: bool = True

    @abstractmethod
    async def _set_flags(
        self, changes: list[FlagChange], actor: str, reason: str, expected: int | None
    ) -> FlagTable:
        """One attempt at :meth:`set_flags` (plan with :func:`plan_changes`, compare-and-set)."""

    @abstractmethod
    async def events(
        self, *, limit: int = 50, offset: int = 0, route: str | None = None
    ) -> list[FlagEvent]:
        """Return recorded changes newest first, optionally for one route only."""

    @abstractmethod
    async def count_events(self, *, route: str | None = None) -> int:
        """Return how many events :meth:`events` can list (for paginated answers)."""

    @abstractmethod
    async def is_empty(self) -> bool:
        """Return whether the table holds no flag at all (a store never initialised)."""

    async def _listen(self, notify: VersionCallback) -> None:  # noqa: B027  # optional hook
        """Push new versions to ``notify`` as the backend announces them (default: no push).

        Stores with notifications (Redis pub/sub, PostgreSQL LISTEN) override this with a loop
        that reconnects by itself and never returns; the check in :meth:`subscribe` backs it up.
        """

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        callback: VersionCallback,
        *,
        on_check: CheckCallback | None = None,
        interval: float | None = None,
        max_backoff: float = MAX_POLL_BACKOFF,
    ) -> AsyncIterator[None]:
        """Call ``callback(version)`` whenever a new version is seen, while the block runs.

        This is the one change detector a worker runs. Versions come from the backend's
        notifications when it has them and from a check that reads :meth:`identity` every
        ``interval`` seconds (default :attr:`poll_interval`; the only source for SQLite, and a
        safety net for messages lost across reconnects). The first version seen is delivered
        too. ``on_check``, when given, hears the outcome of every check before ``callback`` does:
        the :class:`StoreIdentity` read, or the exception that made the store unreachable; that
        is how a :class:`~proxy.flags.watcher.FlagWatcher` learns of outages and recoveries
        without a timer of its own. After a failed check the next one comes after ``interval``,
        then doubling up to ``max_backoff`` seconds. Delivery is best effort and never raises
        into the caller: a failing callback is logged.
        """
        relay = _VersionRelay(callback)
        period = self.poll_interval if interval is None else interval
        tasks = [
            asyncio.create_task(
                self._check_versions(relay.deliver, on_check, period, max_backoff),
                name="flag-store-poll",
            ),
            asyncio.create_task(self._listen(relay.deliver), name="flag-store-listen"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _check_versions(
        self,
        notify: VersionCallback,
        on_check: CheckCallback | None,
        interval: float,
        max_backoff: float,
    ) -> None:
        delay = interval
        failing = False
        while True:
            outcome: StoreIdentity | Exception
            try:
                outcome = await self.identity()
            except Exception as exc:  # any failure: report it, keep checking, slower
                log.debug("flag_store_poll_failed", store=repr(self), error=repr(exc))
                delay = min(delay * 2, max_backoff) if failing else interval
                failing = True
                outcome = exc
            else:
                delay, failing = interval, False
            if on_check is not None:
                try:
                    await on_check(outcome)
                except Exception:
                    log.exception("flag_store_check_callback_failed")
            if isinstance(outcome, StoreIdentity):
                await notify(outcome.version)
            await asyncio.sleep(delay)

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


class _VersionRelay:
    """Pass each newly seen version to a callback once, in order, whoever saw it first."""

    def __init__(self, callback: VersionCallback) -> None:
        self._callback = callback
        self._last: int | None = None
        self._lock = asyncio.Lock()

    async def deliver(self, version: int) -> None:
        async with self._lock:
            if version == self._last:
                return
            self._last = version
            try:
                await self._callback(version)
            except Exception:
                log.exception("flag_version_callback_failed", version=version)
