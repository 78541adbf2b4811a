"""Read plans from the flag file's ``[plans."ROUTE"]`` tables (the file's other half).

::

    [plans."GET /api/v1/agents"]
    steps = "shadow 5m -> canary 1% 5m -> 5% -> 25% -> 50% -> new"
    min_duration = "5m"       # steps that name no duration
    min_requests = 100        # steps that name no count
    rollback = "legacy"       # or "last-good"
    gates = { max_error_rate_increase = 0.01, max_p95_ratio = 1.5 }

At start, each plan the store does not have yet is imported (running from its first step); a
plan already in the store is left alone, as the flag table is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from proxy.errors import FlagFileError, InvalidFlag
from proxy.flags.flagfile import read_flag_document
from proxy.rollout.plans import Plan, plan_from_mapping

__all__ = ["load_plans", "plans_table"]


def plans_table(path: Path) -> dict[str, Any]:
    """The ``plans`` table of a flag file (empty when it has none)."""
    document = read_flag_document(path)
    plans = document.get("plans", {})
    if not isinstance(plans, dict):
        raise FlagFileError(path, "'plans' must be a table of route tables")
    return plans


def load_plans(path: str | Path) -> list[Plan]:
    """Parse every plan of a flag file; raise :class:`FlagFileError` naming the first bad one."""
    path = Path(path)
    plans = []
    for route, entry in plans_table(path).items():
        try:
            plans.append(plan_from_mapping(route, entry))
        except InvalidFlag as exc:
            raise FlagFileError(path, f"plan: {exc.reason}", route=route) from exc
    return plans
