"""Carry out rollout plans: one worker at a time, from every worker's figures, with rollback.

Every worker runs an :class:`Autopilot`. Each tick (``STRANGLER_AUTOPILOT_INTERVAL``, 1 s):

1. publish this worker's cumulative figures (:mod:`proxy.rollout.measure`) to the store;
2. take or renew the ``autopilot`` lease (time to live ``STRANGLER_AUTOPILOT_LEASE_TTL``);
   a worker that does not hold it stops here;
3. the holder reads every plan, every worker's figures and the flag table, and for each running
   plan: sets the chosen step's flag if it is not set yet, or judges the step on its window
   (:func:`~proxy.rollout.gates.judge`) and moves on (pass), rolls back and pauses (fail), or
   waits. A route whose flag someone changed by hand under a running plan pauses the plan.

State is written before the flag, as a compare-and-set on the plan's revision: a holder that
lost its lease without knowing it (stalled longer than the lease) loses that race against the
new holder and writes no flag. Every flag change is an ordinary flag event with actor
``autopilot`` and a reason carrying the figures; the full figures go to the plan's history.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog

from proxy.errors import InvalidFlag, StoreError, StoreMissing, StoreUnavailable, VersionConflict
from proxy.flags.stores.base import FlagStore
from proxy.modes import FlagChange, FlagTable, Mode
from proxy.rollout.gates import FAIL, PASS, Verdict, judge
from proxy.rollout.measure import MeasuredStats, SideWindow, route_payload, window_between
from proxy.rollout.metrics import RolloutMetrics
from proxy.rollout.notify import WebhookNotifier
from proxy.rollout.plans import Plan, Step
from proxy.rollout.state import DONE, PAUSED, RUNNING, PlanState, decode, encode
from proxy.rollout.storage import PlanDocument, RolloutStore
from proxy.shadow.names import DROPPED, MATCH, MISMATCH

__all__ = ["ACTOR", "LEASE_NAME", "Autopilot", "step_change"]

log = structlog.get_logger("proxy.rollout")

ACTOR = "autopilot"
LEASE_NAME = "autopilot"
FIGURES_MAX_AGE = 3600.0


def step_change(route: str, step: Step) -> FlagChange:
    """The flag change that puts ``route`` on ``step``."""
    return FlagChange(route, step.mode, step.percent if step.mode is Mode.CANARY else 0)


def _on_step(table: FlagTable, route: str, step: Step) -> bool:
    flag = table.get(route)
    if flag is None or flag.mode is not step.mode:
        return False
    return step.mode is not Mode.CANARY or flag.percent == step.percent


class FlagStoreRefused(StoreUnavailable):
    """The flag store answers, but with a table this proxy refuses (rewound or replaced)."""


class Autopilot:
    """One worker's share of the autopilot (see the module docstring)."""

    def __init__(
        self,
        store: FlagStore,
        rollout: RolloutStore,
        *,
        stats: MeasuredStats,
        shadow_counts: Callable[[], dict[str, dict[str, int]]],
        metrics: RolloutMetrics,
        interval: float = 1.0,
        lease_ttl: float = 5.0,
        notifier: WebhookNotifier | None = None,
        on_table: Callable[[FlagTable], object] | None = None,
        worker_id: str | None = None,
        refusal: Callable[[], object] | None = None,
    ) -> None:
        self.store = store
        self.rollout = rollout
        self.stats = stats
        self.shadow_counts = shadow_counts
        self.metrics = metrics
        self.interval = interval
        self.lease_ttl = lease_ttl
        self.notifier = notifier
        self.on_table = on_table
        # What this worker's flag watcher refuses (None while it serves the store's table): the
        # autopilot writes no flag into a store the proxy does not route by.
        self.refusal = refusal
        self.worker_id = worker_id or f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leader = False
        self.term = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    # lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is not None:
            return
        if self.notifier is not None:
            await self.notifier.start()
        self._task = asyncio.create_task(self._run(), name="autopilot")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self.leader:
            with contextlib.suppress(Exception):
                await self.rollout.release(LEASE_NAME, self.worker_id)
            self._set_leader(False, 0)
        if self.notifier is not None:
            await self.notifier.stop()
        await self.rollout.close()

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.tick()
                self.last_error = None
                self.metrics.store_refused.set(0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the autopilot must outlive any failure; say so once
                message = f"{type(exc).__name__}: {exc}"
                refused = isinstance(exc, StoreMissing | FlagStoreRefused)
                self.metrics.store_refused.set(1 if refused else 0)
                if message != self.last_error:
                    log.warning(
                        "autopilot_store_refused" if refused else "autopilot_tick_failed",
                        error=message,
                        worker=self.worker_id,
                    )
                self.last_error = message
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    def _set_leader(self, leader: bool, term: int) -> None:
        if leader != self.leader:
            log.info(
                "autopilot_lease_taken" if leader else "autopilot_lease_lost",
                worker=self.worker_id,
                term=term,
            )
        self.leader, self.term = leader, term
        self.metrics.lease_held.set(1 if leader else 0)

    # one tick -----------------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """What this worker publishes: its cumulative figures per route."""
        return {"routes": route_payload(self.stats.totals(), self.shadow_counts())}

    async def tick(self) -> None:
        """Publish, take the lease, and (holding it) drive every running plan once."""
        await self.rollout.publish(self.worker_id, self.figures())
        lease = await self.rollout.acquire(LEASE_NAME, self.worker_id, self.lease_ttl)
        if not lease.held_by(self.worker_id):
            self._set_leader(False, lease.term)
            return
        self._set_leader(True, lease.term)
        documents = await self.rollout.plans()
        if not any(d.body.get("state", {}).get("status") == RUNNING for d in documents):
            return
        figures = await self.rollout.collect(max_age=FIGURES_MAX_AGE)
        refusal = self.refusal() if self.refusal is not None else None
        if refusal is not None:
            raise FlagStoreRefused(f"the proxy refuses the flag store's table: {refusal}")
        table = await self.store.load()
        for document in documents:
            try:
                await self._drive(document, figures, table)
            except VersionConflict:
                continue  # someone (an operator) wrote the plan meanwhile: next tick
            except InvalidFlag as exc:
                log.error("autopilot_plan_invalid", route=document.route, error=str(exc))

    async def _drive(
        self, document: PlanDocument, figures: dict[str, dict[str, Any]], table: FlagTable
    ) -> None:
        plan, state = decode(document.route, document.body)
        if state.status != RUNNING:
            return
        route = plan.route
        per_worker = {w: body.get("routes", {}).get(route, {}) for w, body in figures.items()}
        if not state.applied:
            await self._apply(document, plan, state, per_worker, why=state.reason)
            return
        step = plan.steps[state.step]
        if not _on_step(table, route, step):
            flag = table.get(route)
            changed_at = flag.updated_at.timestamp() if flag and flag.updated_at else 0.0
            by_hand = flag is not None and flag.updated_by != ACTOR
            if by_hand and changed_at >= (state.step_started_at or 0) - 1:
                assert flag is not None
                await self._pause(
                    document,
                    plan,
                    state,
                    f"route changed by hand by {flag.updated_by} ({flag.mode.value}): plan paused",
                    kind="pause",
                )
                return
            # The step's flag was never written (the holder died or the store failed after
            # the state was): complete the step.
            await self._reconcile(document, plan, state)
            return
        if state.step == len(plan.steps) - 1:
            await self._finish(document, plan, state)  # the holder died before "done"
            return
        window = window_between(route, state.baseline, per_worker)
        reference = SideWindow.decode(state.reference) if state.reference else None
        elapsed = time.time() - (state.step_started_at or time.time())
        verdict = judge(plan, state.step, window, elapsed=elapsed, reference=reference)
        if verdict.outcome == FAIL:
            await self._rollback(document, plan, state, verdict)
        elif verdict.outcome == PASS:
            if window.legacy.requests >= plan.gates.min_samples:
                state.reference = window.legacy.encode()
            state.last_good = state.step
            state.step += 1
            state.applied = False
            state.verdict = verdict.figures
            why = f"{step.label} passed: {_figures_line(verdict)}"
            await self._apply(document, plan, state, per_worker, why=why)
        else:
            state.verdict = {**verdict.figures, "outcome": verdict.outcome}
            state.reason = verdict.summary()
            state.judged_at = time.time()
            await self.rollout.put_plan(
                route, encode(plan, state), expected_revision=document.revision
            )

    async def _apply(
        self,
        document: PlanDocument,
        plan: Plan,
        state: PlanState,
        per_worker: dict[str, Any],
        *,
        why: str,
    ) -> None:
        """Set the chosen step's flag, with a fresh window; the last step ends the plan.

        Order: state (the fence), history, flag, then "done" for the last step. A holder that
        dies between two of these leaves a state the next holder completes in
        :meth:`_reconcile` (history written once, flag set, plan finished).
        """
        index = state.step
        step = plan.steps[index]
        state.applied = True
        state.step_started_at = time.time()
        state.baseline = per_worker
        state.status = RUNNING
        state.reason = why or "plan started"
        state.updated_by = ACTOR
        state.term = self.term
        justification, state.verdict = state.verdict, None
        revision = await self.rollout.put_plan(
            plan.route, encode(plan, state), expected_revision=document.revision
        )
        await self._record(plan.route, self._step_event(plan, state, justification))
        reason = f"plan step {index + 1}/{len(plan.steps)} {step.label}: {state.reason}"
        await self._set_flag(step_change(plan.route, step), reason)
        self.metrics.steps_total.labels(plan.route).inc()
        log.info("autopilot_step", route=plan.route, step=index, label=step.label, why=why)
        if index == len(plan.steps) - 1:
            await self._finish(PlanDocument(plan.route, revision, {}), plan, state)

    @staticmethod
    def _step_event(plan: Plan, state: PlanState, figures: dict[str, Any] | None) -> dict[str, Any]:
        last = state.step == len(plan.steps) - 1
        return {
            "kind": "done" if last else "step",
            "route": plan.route,
            "step": state.step,
            "label": plan.steps[state.step].label,
            "reason": state.reason,
            "figures": figures,
            "actor": ACTOR,
        }

    async def _finish(self, document: PlanDocument, plan: Plan, state: PlanState) -> None:
        state.status = DONE
        await self.rollout.put_plan(
            plan.route, encode(plan, state), expected_revision=document.revision
        )
        log.info("autopilot_done", route=plan.route)

    async def _reconcile(self, document: PlanDocument, plan: Plan, state: PlanState) -> None:
        """Finish an applied step whose holder died half-way (history, flag)."""
        step = plan.steps[state.step]
        latest = await self.rollout.history(route=plan.route, limit=1)
        recorded = (
            bool(latest)
            and latest[0].body.get("kind") in ("step", "done")
            and (latest[0].body.get("step") == state.step)
        )
        if not recorded:
            await self._record(plan.route, self._step_event(plan, state, None))
        await self._set_flag(
            step_change(plan.route, step),
            f"plan step {state.step + 1}/{len(plan.steps)} {step.label}: {state.reason}"
            " (completed by the next lease holder)",
        )
        log.info("autopilot_step_completed", route=plan.route, step=state.step)

    async def _rollback(
        self, document: PlanDocument, plan: Plan, state: PlanState, verdict: Verdict
    ) -> None:
        step = plan.steps[state.step]
        target: FlagChange = FlagChange(plan.route, Mode.LEGACY)
        target_label = "legacy"
        if plan.rollback == "last-good" and state.last_good is not None:
            good = plan.steps[state.last_good]
            target, target_label = step_change(plan.route, good), good.label
        summary = verdict.summary()
        state.status = PAUSED
        state.reason = f"rolled back from {step.label} to {target_label}: {summary}"
        state.verdict = {**verdict.figures, "outcome": FAIL}
        state.updated_by = ACTOR
        state.judged_at = time.time()
        await self.rollout.put_plan(
            plan.route, encode(plan, state), expected_revision=document.revision
        )
        await self._set_flag(target, f"rollback: {state.reason}")
        self.metrics.rollbacks_total.labels(plan.route).inc()
        log.warning("autopilot_rollback", route=plan.route, step=step.label, why=summary)
        event = {
            "kind": "rollback",
            "route": plan.route,
            "step": state.step,
            "label": step.label,
            "to": target_label,
            "reason": state.reason,
            "figures": verdict.figures,
            "actor": ACTOR,
        }
        await self._record(plan.route, event)
        await self._record(
            plan.route, {**event, "kind": "pause", "figures": None, "reason": "paused by rollback"}
        )

    async def _pause(
        self, document: PlanDocument, plan: Plan, state: PlanState, reason: str, *, kind: str
    ) -> None:
        state.status = PAUSED
        state.reason = reason
        state.updated_by = ACTOR
        await self.rollout.put_plan(
            plan.route, encode(plan, state), expected_revision=document.revision
        )
        log.warning("autopilot_paused", route=plan.route, reason=reason)
        await self._record(
            plan.route,
            {
                "kind": kind,
                "route": plan.route,
                "step": state.step,
                "reason": reason,
                "actor": ACTOR,
            },
        )

    async def _set_flag(self, change: FlagChange, reason: str) -> None:
        table = await self.store.set_flags([change], actor=ACTOR, reason=reason[:2000])
        if self.on_table is not None:
            self.on_table(table)

    async def _record(self, route: str, event: dict[str, Any]) -> None:
        try:
            await self.rollout.record(route, event)
        except StoreError as exc:
            log.warning("autopilot_history_failed", route=route, error=repr(exc))
        if self.notifier is not None:
            self.notifier.notify(event)


def _figures_line(verdict: Verdict) -> str:
    """The figures behind a verdict in one line (what a flag event's reason carries)."""
    figures = verdict.figures
    window = figures.get("window", {})
    new = window.get("new", {})
    legacy = window.get("legacy", {})
    shadow = window.get("shadow", {})
    parts = [f"{figures.get('elapsed_seconds', 0):.0f} s", f"{figures.get('requests', 0)} req"]
    if new.get("requests"):
        parts.append(f"new err {new.get('error_rate', 0):.2%} p95 {new.get('p95_ms')} ms")
    if legacy.get("requests"):
        parts.append(f"legacy err {legacy.get('error_rate', 0):.2%} p95 {legacy.get('p95_ms')} ms")
    gates = figures.get("gates", {})
    if "latency_u_test" in gates:
        parts.append(f"U-test p={gates['latency_u_test']['p_greater']:.3g}")
    if shadow.get(MATCH) or shadow.get(MISMATCH):
        parts.append(
            f"shadow {shadow.get(MATCH, 0)} match {shadow.get(MISMATCH, 0)} mismatch"
            f" {shadow.get(DROPPED, 0)} dropped"
        )
    return ", ".join(parts)
