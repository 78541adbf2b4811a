"""What the admin API works on: a small, frozen view of one proxy worker's state.

:mod:`proxy.app` builds it; nothing in :mod:`proxy.admin` sees the proxy itself (its dispatcher,
bridges or lifespan), only what the routers read and the flag operations they run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import structlog

from proxy.admin.dashboard.config import SignIn
from proxy.auth import TokenVerifier
from proxy.flags.service import FlagService
from proxy.flags.stores.base import FlagStore
from proxy.flags.watcher import FlagWatcher
from proxy.inventory import Inventory
from proxy.modes import FlagChange, FlagTable
from proxy.problems import AdminProblem
from proxy.shadow.mismatches import MismatchStore
from proxy.telemetry.metrics import ProxyMetrics
from proxy.telemetry.stats import RollingStats

__all__ = ["AdminContext"]

log = structlog.get_logger("proxy.admin.api")


@dataclass(frozen=True)
class AdminContext:
    """One worker's state as the admin API sees it.

    ``table_version`` returns the version of the compiled routing table in force (what
    ``/_strangler/health`` reports); ``mismatch_store`` is the shadow runner's, or ``None``
    without one; ``shadow_enabled`` says whether a shadow runner is configured at all;
    ``sign_in`` is where the dashboard signs users in (the composition module's word).
    """

    inventory: Inventory
    store: FlagStore
    watcher: FlagWatcher
    metrics: ProxyMetrics
    stats: RollingStats
    token_verifier: TokenVerifier
    table_version: Callable[[], int]
    mismatch_store: MismatchStore | None = None
    shadow_enabled: bool = False
    sign_in: SignIn | None = None

    @property
    def flags(self) -> FlagTable:
        """The flag table in force in this worker (an empty one before the first load)."""
        return self.watcher.table or FlagTable(version=0)

    @cached_property
    def flag_service(self) -> FlagService:
        """The flag operations, planned against this worker's table and applied here at once."""
        return FlagService(
            self.store,
            self.inventory,
            served=lambda: self.flags,
            before_write=self._refuse_while_refusing,
            on_written=self._apply_written,
        )

    def _refuse_while_refusing(self) -> None:
        refusal = self.watcher.refusal
        if refusal is not None:
            raise AdminProblem(
                503,
                f"The flag store's table is refused ({refusal['reason']}): this proxy keeps "
                "serving its last good table and changes nothing until the store it served "
                "comes back or an operator adopts the new one (resync-strangler flags adopt).",
                extra={"refusal": refusal},
            )

    def _apply_written(
        self, table: FlagTable, changes: Sequence[FlagChange], actor: str, reason: str
    ) -> Any:
        self.watcher.offer(table)
        log.info(
            "flags_changed",
            actor=actor,
            reason=reason,
            version=table.version,
            routes=[change.route for change in changes],
        )
