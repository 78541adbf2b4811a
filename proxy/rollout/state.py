"""The state of a route's plan as stored with it: where it is, why, and the step's baseline.

A plan document is ``{"plan": <Plan.as_json()>, "state": <PlanState.as_json()>}``. Statuses:

- ``running``: the autopilot drives it. ``applied`` false means the step is chosen but its flag
  not yet set (a new plan, a promote, a resume): the lease holder sets it at its next tick.
- ``paused``: a rollback, an operator, or a route changed by hand stopped it; ``reason`` says
  which. Resume re-runs the current step with a fresh window.
- ``done``: the last step is applied. ``aborted``: an operator sent the route back to legacy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from proxy.rollout.plans import Plan, plan_from_mapping

__all__ = ["ABORTED", "DONE", "PAUSED", "RUNNING", "STATUSES", "PlanState", "decode", "encode"]

RUNNING = "running"
PAUSED = "paused"
DONE = "done"
ABORTED = "aborted"
STATUSES = (RUNNING, PAUSED, DONE, ABORTED)


@dataclass(slots=True)
class PlanState:
    """Where a plan is. Times are Unix seconds (wall clock of the writer)."""

    status: str = RUNNING
    step: int = 0
    applied: bool = False
    step_started_at: float | None = None
    baseline: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] | None = None
    last_good: int | None = None
    reason: str = ""
    updated_by: str = ""
    term: int = 0
    verdict: dict[str, Any] | None = None
    judged_at: float | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlanState:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def encode(plan: Plan, state: PlanState) -> dict[str, Any]:
    """The stored document of a plan and its state."""
    return {"plan": plan.as_json(), "state": state.as_json()}


def decode(route: str, body: dict[str, Any]) -> tuple[Plan, PlanState]:
    """Read a stored document back (raises InvalidFlag if the plan part is malformed)."""
    data = dict(body.get("plan", {}))
    data.pop("route", None)
    return plan_from_mapping(route, data), PlanState.from_json(dict(body.get("state", {})))
