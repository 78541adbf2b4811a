"""Plans, history, the lease and worker figures on real SQLite, Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from proxy.errors import VersionConflict
from proxy.rollout.storage import RolloutStore, rollout_store_for
from tests.proxy.flag_store_backends import BACKENDS, Backend, open_backend, postgres_database

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def postgres_flag_database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    yield from postgres_database(request)


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async with open_backend(request, tmp_path) as opened:
        yield opened


@pytest.fixture
async def stores(backend: Backend) -> AsyncIterator[tuple[RolloutStore, RolloutStore]]:
    """Two rollout stores on one shared state, as two workers would have."""
    flag_store = await backend.store()
    first, second = rollout_store_for(flag_store), rollout_store_for(await backend.store())
    await first.open()
    await second.open()
    try:
        yield first, second
    finally:
        await _drop(first)
        await first.close()
        await second.close()


async def _drop(store: RolloutStore) -> None:
    for document in await store.plans():
        await store.delete_plan(document.route)


async def test_plans_are_a_compare_and_set_on_their_revision(
    stores: tuple[RolloutStore, RolloutStore],
) -> None:
    a, b = stores
    assert await a.put_plan("GET /x", {"n": 1}, expected_revision=0) == 1
    with pytest.raises(VersionConflict):
        await b.put_plan("GET /x", {"n": 2}, expected_revision=0)
    assert await b.put_plan("GET /x", {"n": 2}, expected_revision=1) == 2
    document = await a.plan("GET /x")
    assert document is not None and (document.revision, document.body) == (2, {"n": 2})
    assert [d.route for d in await b.plans()] == ["GET /x"]
    with pytest.raises(VersionConflict):
        await a.delete_plan("GET /x", expected_revision=1)
    assert await a.delete_plan("GET /x", expected_revision=2) is True
    assert await b.plan("GET /x") is None


async def test_history_is_newest_first_per_route(stores: tuple[RolloutStore, RolloutStore]) -> None:
    a, b = stores
    await a.record("GET /x", {"kind": "step", "step": 0})
    await b.record("GET /y", {"kind": "step", "step": 0})
    await a.record("GET /x", {"kind": "rollback", "step": 1})
    assert [e.body["kind"] for e in await b.history(route="GET /x")] == ["rollback", "step"]
    assert [e.route for e in await b.history(limit=2)] == ["GET /x", "GET /y"]


async def test_one_holder_at_a_time_and_an_expired_lease_is_taken_over(
    stores: tuple[RolloutStore, RolloutStore],
) -> None:
    a, b = stores
    first = await a.acquire("autopilot-test", "worker-a", 0.5)
    assert first.held_by("worker-a")
    assert (await b.acquire("autopilot-test", "worker-b", 0.5)).holder == "worker-a"
    renewed = await a.acquire("autopilot-test", "worker-a", 0.5)
    assert renewed.term == first.term  # a renewal is the same term
    await asyncio.sleep(0.7)  # worker-a stops renewing (killed)
    taken = await b.acquire("autopilot-test", "worker-b", 5)
    assert taken.held_by("worker-b") and taken.term == first.term + 1
    assert (await a.acquire("autopilot-test", "worker-a", 5)).holder == "worker-b"
    await b.release("autopilot-test", "worker-b")
    assert await a.lease("autopilot-test") is None
    assert (await a.acquire("autopilot-test", "worker-a", 5)).held_by("worker-a")


async def test_worker_figures_are_shared_and_old_ones_pruned(
    stores: tuple[RolloutStore, RolloutStore],
) -> None:
    a, b = stores
    await a.publish("worker-a", {"routes": {"GET /x": {"new": {"n": 3}}}})
    await b.publish("worker-b", {"routes": {}})
    figures = await b.collect(max_age=60)
    assert figures["worker-a"]["routes"]["GET /x"]["new"]["n"] == 3
    assert set(figures) >= {"worker-a", "worker-b"}
    await asyncio.sleep(0.3)
    await b.publish("worker-b", {"routes": {}})
    assert set(await a.collect(max_age=0.2)) == {"worker-b"}
