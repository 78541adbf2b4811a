"""Operate plans: create, pause, resume, promote, abort and remove them (admin API and CLI).

Each action is a read-modify-write of the plan document, retried when it races the autopilot's
own writes (a compare-and-set on the revision). Actions that change what a route serves *now*
(abort) write the flag themselves, with the operator as actor; actions that move the plan
(create, resume, promote) choose the step and leave setting its flag to the lease holder, which
does it at its next tick, so exactly one worker ever sets a plan's flags.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proxy.errors import InvalidFlag, ProxyError, VersionConflict
from proxy.flags.stores.base import FlagStore
from proxy.inventory import Inventory
from proxy.modes import FlagChange, FlagTable, Mode, mode_allowed
from proxy.rollout.plans import Plan
from proxy.rollout.state import ABORTED, DONE, PAUSED, RUNNING, PlanState, decode, encode
from proxy.rollout.storage import PlanDocument, RolloutStore

__all__ = ["ACTIONS", "PlanActionRefused", "PlanControl", "plan_view"]

ACTIONS = ("pause", "resume", "promote", "abort")
_ATTEMPTS = 8


class PlanActionRefused(ProxyError):
    """An action the plan's status does not allow (409), or an unknown plan (404)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def plan_view(document: PlanDocument) -> dict[str, Any]:
    """A plan document as the admin API and the dashboard show it."""
    plan, state = decode(document.route, document.body)
    index = min(state.step, len(plan.steps) - 1)
    return {
        "route": plan.route,
        "revision": document.revision,
        "plan": plan.as_json(),
        "steps": [
            {
                **step.as_json(),
                "label": step.label,
                "min_duration": plan.duration_of(i),
                "min_requests": plan.requests_of(i),
            }
            for i, step in enumerate(plan.steps)
        ],
        "status": state.status,
        "step": index,
        "current": plan.steps[index].label,
        "applied": state.applied,
        "step_started_at": state.step_started_at,
        "last_good": state.last_good,
        "reason": state.reason,
        "updated_by": state.updated_by,
        "verdict": state.verdict,
        "judged_at": state.judged_at,
    }


class PlanControl:
    """Operator actions on plans, for one flag store and its rollout store."""

    def __init__(
        self,
        store: FlagStore,
        rollout: RolloutStore,
        inventory: Inventory | None = None,
        *,
        notify: Callable[[dict[str, Any]], object] | None = None,
        on_table: Callable[[FlagTable], object] | None = None,
    ) -> None:
        self.store = store
        self.rollout = rollout
        self.inventory = inventory
        self._notify = notify
        self._on_table = on_table

    def check_route(self, plan: Plan) -> None:
        """Refuse a plan for a route the inventory lacks or that one side does not serve."""
        if self.inventory is None:
            return
        route = self.inventory.get(plan.route)
        if route is None:
            raise InvalidFlag("no such route in the inventory", route=plan.route)
        for step in plan.steps:
            if not mode_allowed(step.mode, route.sides):
                raise InvalidFlag(
                    f"step {step.label} needs both sides, and only {sorted(route.sides)} serve it",
                    route=plan.route,
                )

    async def put(self, plan: Plan, *, actor: str, reason: str, start: bool = True) -> int:
        """Create or replace a route's plan, at its first step (running, or paused)."""
        self.check_route(plan)
        existing = await self.rollout.plan(plan.route)
        if existing is not None:
            _, state = decode(existing.route, existing.body)
            if state.status == RUNNING:
                raise PlanActionRefused(
                    409, "The route's plan is running: pause or abort it before replacing it."
                )
        state = PlanState(
            status=RUNNING if start else PAUSED,
            reason=f"plan set by {actor}: {reason}",
            updated_by=actor,
        )
        expected = existing.revision if existing is not None else 0
        revision = await self.rollout.put_plan(
            plan.route, encode(plan, state), expected_revision=expected
        )
        await self._record(plan.route, "plan", actor, reason, steps=plan.as_json()["steps"])
        return revision

    async def delete(self, route: str, *, actor: str, reason: str) -> None:
        document = await self._document(route)
        _, state = decode(route, document.body)
        if state.status == RUNNING:
            raise PlanActionRefused(409, "The plan is running: pause or abort it first.")
        await self.rollout.delete_plan(route, expected_revision=document.revision)
        await self._record(route, "delete", actor, reason)

    async def act(
        self, route: str, action: str, *, actor: str, reason: str, to_step: int | None = None
    ) -> dict[str, Any]:
        """Carry out ``pause``, ``resume``, ``promote`` or ``abort``; return the new view."""
        if action not in ACTIONS:
            raise PlanActionRefused(400, f"Unknown action {action!r}.")
        for _ in range(_ATTEMPTS):
            document = await self._document(route)
            plan, state = decode(route, document.body)
            flag_change = self._change(action, plan, state, actor, reason, to_step)
            try:
                revision = await self.rollout.put_plan(
                    route, encode(plan, state), expected_revision=document.revision
                )
            except VersionConflict:
                continue
            if flag_change is not None:
                table = await self.store.set_flags(
                    [flag_change], actor=actor, reason=f"plan {action}: {reason}"
                )
                if self._on_table is not None:
                    self._on_table(table)
            await self._record(route, action, actor, reason, step=state.step)
            return plan_view(PlanDocument(route, revision, encode(plan, state)))
        raise PlanActionRefused(409, "The plan kept changing under the action; try again.")

    @staticmethod
    def _change(
        action: str,
        plan: Plan,
        state: PlanState,
        actor: str,
        reason: str,
        to_step: int | None,
    ) -> FlagChange | None:
        status = state.status
        state.updated_by = actor
        if action == "pause":
            if status != RUNNING:
                raise PlanActionRefused(409, f"The plan is {status}, not running.")
            state.status, state.reason = PAUSED, f"paused by {actor}: {reason}"
            return None
        if action == "resume":
            if status != PAUSED:
                raise PlanActionRefused(409, f"The plan is {status}, not paused.")
            state.status, state.applied = RUNNING, False
            state.reason = f"resumed by {actor}: {reason}"
            return None
        if action == "promote":
            if status in (DONE, ABORTED):
                raise PlanActionRefused(409, f"The plan is {status}.")
            target = state.step + 1 if to_step is None else to_step
            if not 0 <= target < len(plan.steps):
                raise PlanActionRefused(
                    400, f"Step {target} is not in the plan (0..{len(plan.steps) - 1})."
                )
            state.step, state.applied, state.status = target, False, RUNNING
            state.reason = f"promoted to {plan.steps[target].label} by {actor}: {reason}"
            return None
        if status == ABORTED:
            raise PlanActionRefused(409, "The plan is already aborted.")
        state.status, state.reason = ABORTED, f"aborted by {actor}: {reason}"
        return FlagChange(plan.route, Mode.LEGACY)

    async def _document(self, route: str) -> PlanDocument:
        document = await self.rollout.plan(route)
        if document is None:
            raise PlanActionRefused(404, f"No plan for {route}.")
        return document

    async def _record(self, route: str, kind: str, actor: str, reason: str, **extra: Any) -> None:
        event = {"kind": kind, "route": route, "actor": actor, "reason": reason, **extra}
        await self.rollout.record(route, event)
        if self._notify is not None:
            self._notify(event)
