"""The engine tick by tick on a real store: steps, rollback to the last good step, pauses."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from proxy.flags.stores import open_store
from proxy.modes import FlagChange, Mode
from proxy.rollout.autopilot import Autopilot
from proxy.rollout.control import PlanControl
from proxy.rollout.measure import MeasuredStats
from proxy.rollout.metrics import RolloutMetrics
from proxy.rollout.plans import plan_from_mapping
from proxy.rollout.storage import rollout_store_for

pytestmark = pytest.mark.anyio
ROUTE = "GET /api/items"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _traffic(stats: MeasuredStats, side: str, count: int, status: int = 200) -> None:
    for _ in range(count):
        stats.record(ROUTE, side, status, 12.0)


async def test_steps_advance_a_failed_gate_rolls_back_to_the_last_good_step(
    tmp_path: Path,
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'flags.db'}")
    await store.create()
    rollout = rollout_store_for(store)
    await rollout.open()
    stats = MeasuredStats()
    registry = CollectorRegistry()
    autopilot = Autopilot(
        store,
        rollout,
        stats=stats,
        shadow_counts=dict,
        metrics=RolloutMetrics(registry),
        worker_id="worker-1",
    )
    control = PlanControl(store, rollout)
    plan = plan_from_mapping(
        ROUTE,
        {
            "steps": "canary 50% 0s 5req -> canary 90% 0s 5req -> new",
            "rollback": "last-good",
            "gates": {"min_samples": 5},
        },
    )
    await control.put(plan, actor="alice", reason="test")

    async def flag() -> tuple[str, int]:
        current = (await store.load()).get(ROUTE)
        assert current is not None
        return current.mode.value, current.percent

    async def status() -> tuple[str, int, str]:
        document = await rollout.plan(ROUTE)
        assert document is not None
        state = document.body["state"]
        return state["status"], state["step"], state["reason"]

    await autopilot.tick()
    assert autopilot.leader
    assert await flag() == ("canary", 50)
    _traffic(stats, "legacy", 10)
    _traffic(stats, "new", 10)
    await autopilot.tick()
    assert await flag() == ("canary", 90)
    assert (await status())[:2] == ("running", 1)

    _traffic(stats, "legacy", 10)
    _traffic(stats, "new", 10, status=502)
    await autopilot.tick()
    assert await flag() == ("canary", 50)  # the last step that passed
    state, step, reason = await status()
    assert (state, step) == ("paused", 1)
    assert reason.startswith("rolled back from canary 90% to canary 50%: error rate new 100.00%")
    assert registry.get_sample_value("strangler_autopilot_rollbacks_total", {"route": ROUTE}) == 1.0
    events = await store.events(route=ROUTE)
    assert events[0].actor == "autopilot" and events[0].reason.startswith("rollback:")
    assert events[1].reason.startswith("plan step 2/3 canary 90%: canary 50% passed: ")

    # Resumed, the step runs again with a fresh window; a change by hand pauses the plan.
    await control.act(ROUTE, "resume", actor="alice", reason="fixed")
    await autopilot.tick()
    assert await flag() == ("canary", 90)
    await store.set_flags([FlagChange(ROUTE, Mode.LEGACY)], actor="bob", reason="by hand")
    await autopilot.tick()
    state, _, reason = await status()
    assert state == "paused" and "changed by hand by bob" in reason
    assert await flag() == ("legacy", 0)

    # Another worker does nothing while this one holds the lease.
    other = Autopilot(
        store,
        rollout,
        stats=MeasuredStats(),
        shadow_counts=dict,
        metrics=RolloutMetrics(CollectorRegistry()),
        worker_id="worker-2",
    )
    await other.tick()
    assert not other.leader
    await autopilot.stop()
    await other.tick()
    assert other.leader  # a clean stop hands the lease over at once
    await other.stop()
    await store.close()
