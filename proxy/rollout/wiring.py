"""Attach the rollout autopilot to a built proxy: stores, engine, operator actions, admin routes."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from proxy.errors import InvalidFlag, StoreError, VersionConflict
from proxy.rollout.autopilot import Autopilot
from proxy.rollout.control import PlanControl
from proxy.rollout.flagfile import load_plans
from proxy.rollout.measure import MeasuredStats
from proxy.rollout.metrics import RolloutMetrics
from proxy.rollout.notify import WebhookNotifier
from proxy.rollout.storage import RolloutStore, rollout_store_for

if TYPE_CHECKING:
    from fastapi import FastAPI

    from proxy.flags.stores.base import FlagStore
    from proxy.flags.watcher import FlagWatcher
    from proxy.inventory import Inventory
    from proxy.settings import ProxySettings
    from proxy.telemetry.metrics import ProxyMetrics

__all__ = ["Rollout", "attach_rollout"]

log = structlog.get_logger("proxy.rollout")


@dataclass
class Rollout:
    """One proxy's rollout runtime."""

    store: RolloutStore
    autopilot: Autopilot
    control: PlanControl
    metrics: RolloutMetrics
    notifier: WebhookNotifier | None
    enabled: bool
    flag_file: Path | None = None

    async def start(self) -> None:
        """Import the flag file's plans missing from the store, then run the autopilot.

        Raises :class:`~proxy.errors.FlagFileError` when the file's ``[plans]`` are broken.
        """
        with contextlib.suppress(StoreError):
            await self.store.open()  # unreachable: the autopilot's ticks retry
        if self.flag_file is not None:
            await self._import_plans(self.flag_file)
        if self.enabled:
            await self.autopilot.start()
        elif self.notifier is not None:
            await self.notifier.start()

    async def stop(self) -> None:
        if self.enabled:
            await self.autopilot.stop()
        else:
            if self.notifier is not None:
                await self.notifier.stop()
            await self.store.close()

    async def _import_plans(self, path: Path) -> None:
        if not await asyncio.to_thread(path.is_file):
            return
        # A broken plan fails startup, as a broken route in the same file does.
        plans = await asyncio.to_thread(load_plans, path)
        for plan in plans:
            if await self._has_plan(plan.route):
                continue
            try:
                self.control.check_route(plan)
                await self.control.put(plan, actor="proxy", reason=f"imported from {path.name}")
            except VersionConflict:
                continue  # another worker imported it first
            except InvalidFlag as exc:
                log.warning("flag_file_plan_skipped", route=plan.route, error=str(exc))
            except StoreError as exc:
                log.warning("flag_file_plans_not_imported", error=repr(exc))
                return

    async def _has_plan(self, route: str) -> bool:
        try:
            return await self.store.plan(route) is not None
        except StoreError:
            return True  # cannot tell: do not import blindly


def attach_rollout(
    settings: ProxySettings,
    flag_store: FlagStore,
    inventory: Inventory,
    watcher: FlagWatcher,
    proxy_metrics: ProxyMetrics,
    stats: MeasuredStats,
    admin: FastAPI,
) -> Rollout:
    """Build a proxy's rollout runtime from its parts and mount its routes on the admin app."""
    store = rollout_store_for(flag_store)
    metrics = RolloutMetrics(proxy_metrics.registry)
    notifier = None
    if settings.autopilot_webhook_url:
        notifier = WebhookNotifier(
            settings.autopilot_webhook_url,
            queue_size=settings.autopilot_webhook_queue,
            on_result=lambda result: metrics.notifications_total.labels(result).inc(),
        )
    autopilot = Autopilot(
        flag_store,
        store,
        stats=stats,
        shadow_counts=proxy_metrics.shadow_counts,
        metrics=metrics,
        interval=settings.autopilot_interval,
        lease_ttl=settings.autopilot_lease_ttl,
        notifier=notifier,
        on_table=watcher.offer,
        refusal=lambda: watcher.refusal,
    )
    control = PlanControl(
        flag_store,
        store,
        inventory,
        notify=notifier.notify if notifier is not None else None,
        on_table=watcher.offer,
    )
    rollout = Rollout(
        store, autopilot, control, metrics, notifier, settings.autopilot, Path(settings.flag_file)
    )
    from proxy.rollout.admin import create_plans_router

    admin.include_router(create_plans_router(rollout))
    return rollout
