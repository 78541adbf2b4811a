"""Keep a worker's in-memory flag table in step with the store, and keep serving when it is down.

The watcher loads the table at start, then runs the store's subscription
(:meth:`~proxy.flags.stores.base.FlagStore.subscribe`), the one change detector: it reloads the
table when the subscription reports a new version (pushed, or found by its periodic check) and
hands each new table to ``on_table`` so the proxy can swap its compiled route table in one
assignment. The same check is the health check: when it fails the watcher keeps the last good
table, logs ``flag_store_unreachable`` once per outage, and when a check succeeds again it logs
``flag_store_recovered`` and reloads whatever changed meanwhile. The watcher has no timer of its
own. Nothing it meets is allowed to end the
worker: every failure is logged and retried.

It also refuses a table it must not trust: one whose version went backwards
(``version_rewound``: an older copy of the store) or whose store id changed (``store_replaced``:
another, or a fresh, store in its place). It keeps the last good table, logs
``flag_table_refused`` once per refused table, and says so in :attr:`FlagWatcher.refusal`
(health) and through ``on_refused``/``on_refusing`` (metrics). It resumes by itself when the store
it served comes back (same id, version not lower), and takes another store only when that store
was declared to replace the one it serves (``resync-strangler flags adopt --replaces ID``) or
after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

import structlog

from proxy.errors import StoreError
from proxy.flags.stores.base import FlagStore, StoreIdentity
from proxy.modes import FlagTable

__all__ = ["REFUSAL_REASONS", "FlagWatcher"]

REFUSAL_REASONS = ("version_rewound", "store_replaced")

log = structlog.get_logger("proxy.flags.watcher")


class FlagWatcher:
    """Watch a flag store for one worker; use as ``async with`` or call start()/stop().

    ``on_table(table)`` is called with every new table (the first one included) from the event
    loop; it should be quick (compile and assign). ``on_health(up)`` and ``on_version(version)``
    are optional hooks for metrics (``strangler_flag_store_up``, ``strangler_flag_version``),
    so the watcher needs no metrics library.

    ``bootstrap(store)`` (e.g. :func:`~proxy.flags.flagfile.ensure_initialised` bound to the flag
    file) runs before the first load, and again at each of the subscription's checks until the
    store has answered it once,
    so a worker that started while the store was down still initialises an empty store when it
    comes back. A bootstrap that fails for another reason than the store (a broken flag file)
    is logged as ``flag_bootstrap_failed`` and not retried.

    ``check_interval`` is the period of the subscription's check (the health check, and a safety
    net behind notifications); ``None``, the default, keeps the store's own
    :attr:`~proxy.flags.stores.base.FlagStore.poll_interval`. After a failed check the next one
    comes after ``check_interval``, then doubling up to ``max_backoff`` seconds.
    """

    def __init__(
        self,
        store: FlagStore,
        on_table: Callable[[FlagTable], None],
        *,
        check_interval: float | None = None,
        max_backoff: float = 5.0,
        on_health: Callable[[bool], None] | None = None,
        on_version: Callable[[int], None] | None = None,
        bootstrap: Callable[[FlagStore], Awaitable[object]] | None = None,
        on_refused: Callable[[str], None] | None = None,
        on_refusing: Callable[[bool], None] | None = None,
    ) -> None:
        self.store = store
        self._bootstrap = bootstrap
        self._on_table = on_table
        self._on_health = on_health
        self._on_version = on_version
        self._on_refused = on_refused
        self._on_refusing = on_refusing
        #: Why the store's current table is refused (``None`` while it is served): reason,
        #: the refused store id and version, and the store id and version still served.
        self.refusal: dict[str, object] | None = None
        self._refused_identity: StoreIdentity | None = None
        self.check_interval = store.poll_interval if check_interval is None else check_interval
        self.max_backoff = max_backoff
        self.table: FlagTable | None = None
        self.healthy = False
        self._reported_health: bool | None = None
        self.last_error: str | None = None
        self.consecutive_failures = 0
        self._down_since: float | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def version(self) -> int | None:
        """The version of the table in use, ``None`` before the first successful load."""
        return self.table.version if self.table is not None else None

    async def start(self) -> None:
        """Load the table once (failure is logged, not raised), then run the subscription."""
        if self._task is not None:
            return
        await self.refresh()
        self._task = asyncio.create_task(self._run(), name="flag-watcher")

    async def stop(self) -> None:
        """Stop watching; the last table stays available in :attr:`table`."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def store_id(self) -> str | None:
        """The id of the store whose table is in use, ``None`` before the first load."""
        return self.table.store_id if self.table is not None else None

    async def refresh(self) -> bool:
        """Ask the store now and apply a new table if there is one; return whether it answered."""
        async with self._lock:
            try:
                await self._run_bootstrap()
                await self._examine(await self.store.identity())
            except Exception as exc:  # any failure means "keep the last table"
                self._mark_down(exc)
                return False
            self._mark_up()
            return True

    async def _examine(self, identity: StoreIdentity) -> None:
        """Load the table if ``identity`` says it changed (the caller holds the lock)."""
        if identity == self._refused_identity:
            return  # the table refused last time, unchanged: keep refusing, quietly
        if (
            self.table is None
            or identity.version != self.table.version
            or identity.store_id != self.table.store_id
        ):
            self._consider(await self.store.load())
        else:
            self._resume()

    def _consider(self, table: FlagTable) -> bool:
        """Apply ``table`` unless it must be refused (rewound, or from another store)."""
        current = self.table
        if current is None:
            self._apply(table)
            return True
        if table.store_id != current.store_id:
            if table.replaces is None or table.replaces != current.store_id:
                self._refuse("store_replaced", table)
                return False
            log.warning(
                "flag_store_adopted",
                store=repr(self.store),
                store_id=table.store_id,
                replaces=table.replaces,
                version=table.version,
                previous=current.version,
            )
        elif table.version < current.version:
            self._refuse("version_rewound", table)
            return False
        self._apply(table)
        return True

    def _refuse(self, reason: str, table: FlagTable) -> None:
        identity = StoreIdentity(table.store_id, table.version, table.replaces)
        if identity == self._refused_identity:
            return
        self._refused_identity = identity
        self.refusal = {
            "reason": reason,
            "store_id": table.store_id,
            "version": table.version,
            "serving_store_id": self.store_id,
            "serving_version": self.version,
        }
        log.error("flag_table_refused", store=repr(self.store), **self.refusal)
        if self._on_refused is not None:
            self._call_hook(self._on_refused, reason)
        if self._on_refusing is not None:
            self._call_hook(self._on_refusing, True)

    def _resume(self) -> None:
        if self.refusal is None:
            return
        log.warning(
            "flag_store_resumed",
            store=repr(self.store),
            store_id=self.store_id,
            version=self.version,
            refused=self.refusal["reason"],
        )
        self.refusal = None
        self._refused_identity = None
        if self._on_refusing is not None:
            self._call_hook(self._on_refusing, False)

    async def _run_bootstrap(self) -> None:
        bootstrap = self._bootstrap
        if bootstrap is None:
            return
        try:
            await bootstrap(self.store)
        except StoreError:
            raise  # the store is not there yet: retried at the next check
        except Exception:
            log.exception("flag_bootstrap_failed")
        self._bootstrap = None

    def offer(self, table: FlagTable) -> bool:
        """Apply a table known to be fresh (what ``set_flags`` returned) if it is newer.

        Lets the worker that made a change serve it at once, without waiting for the
        notification round trip. Returns whether the table was applied.
        """
        if self.table is not None and table.version <= self.table.version:
            return False
        if self.table is not None and table.store_id != self.table.store_id:
            return False  # written to a store this worker does not serve: the watcher decides
        self._apply(table)
        return True

    async def _run(self) -> None:
        while True:
            try:
                async with self.store.subscribe(
                    self._notified,
                    on_check=self._checked,
                    interval=self.check_interval,
                    max_backoff=self.max_backoff,
                ):
                    await asyncio.Event().wait()  # the subscription's tasks do the work
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not stop the worker; log it and start over
                log.exception("flag_watcher_failed")
                await asyncio.sleep(self.max_backoff)

    async def _checked(self, outcome: StoreIdentity | Exception) -> None:
        """One check of the subscription: the health check, and a change found by polling."""
        if self._bootstrap is not None:
            await self.refresh()  # the flag file is still to import: bootstrap, then read
            return
        async with self._lock:
            try:
                if isinstance(outcome, Exception):
                    raise outcome
                await self._examine(outcome)
            except Exception as exc:  # any failure means "keep the last table"
                self._mark_down(exc)
                return
            self._mark_up()

    async def _notified(self, version: int) -> None:
        """A version pushed by the store (or polled, once :meth:`_checked` has seen it)."""
        refused = self._refused_identity
        if version != self.version and (refused is None or version != refused.version):
            await self.refresh()

    def _apply(self, table: FlagTable) -> None:
        previous = self.version
        self.table = table
        log.info(
            "flag_table_loaded",
            version=table.version,
            previous=previous,
            routes=len(table),
            store_id=table.store_id,
        )
        self._resume()
        try:
            self._on_table(table)
        except Exception:
            log.exception("flag_table_rejected", version=table.version)
        if self._on_version is not None:
            self._call_hook(self._on_version, table.version)

    def _mark_down(self, exc: Exception) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.consecutive_failures += 1
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning(
                "flag_store_unreachable",
                store=repr(self.store),
                error=self.last_error,
                version=self.version,
            )
        self._set_health(False)

    def _mark_up(self) -> None:
        if self._down_since is not None:
            outage = time.monotonic() - self._down_since
            log.info(
                "flag_store_recovered",
                store=repr(self.store),
                version=self.version,
                outage_seconds=round(outage, 3),
            )
            self._down_since = None
            self.last_error = None
        self.consecutive_failures = 0
        self._set_health(True)

    def _set_health(self, up: bool) -> None:
        self.healthy = up
        if up != self._reported_health:
            self._reported_health = up
            if self._on_health is not None:
                self._call_hook(self._on_health, up)

    @staticmethod
    def _call_hook(
        hook: Callable[[bool], None] | Callable[[int], None] | Callable[[str], None],
        value: object,
    ) -> None:
        try:
            hook(value)  # type: ignore[arg-type]
        except Exception:
            log.exception("flag_watcher_hook_failed")
