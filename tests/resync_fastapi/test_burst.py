"""A burst of TWS-bound requests with TWS hanging, on a real uvicorn with a tiny pool.

Before, every TWS-bound request kept the connection its authentication used for the whole TWS
call: with the pool at 2 + 0, the third concurrent request waited for a connection and, past the
pool timeout, failed with ``QueuePool limit ... reached`` as a 500, while the database-only
routes queued behind the hanging TWS calls. Now authentication gives its connection back first,
so every TWS-bound request ends as the documented 504 and the other routes keep answering.
Asserted by counts and by the order answers arrive, never by wall-clock thresholds.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.resync_fastapi.harness import SECRET, mint
from tests.services import REPO_ROOT, TwsSim, free_port, start_tws_sim

BURST = 40
TWS_TIMEOUT_SECONDS = 2


@pytest.fixture
def hanging_tws() -> Iterator[TwsSim]:
    """A simulator of this test's own that never answers within the app's TWS timeout."""
    process, sim = start_tws_sim()
    try:
        sim.configure(timeout_rate=1.0, timeout_seconds=60)
        yield sim
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def small_pool_server(database_url: str, hanging_tws: TwsSim) -> Iterator[str]:
    """``uvicorn --factory resync_fastapi.main:create_app`` with a pool of 2 and no overflow."""
    port = free_port()
    env = {
        **os.environ,
        "RESYNC_ENV": "test",
        "RESYNC_SECRET_KEY": SECRET,
        "RESYNC_DATABASE_URL": database_url,
        "RESYNC_TWS_URL": hanging_tws.twsd_url,
        "RESYNC_TWS_TIMEOUT": str(TWS_TIMEOUT_SECONDS),
        "RESYNC_DB_POOL_SIZE": "2",
        "RESYNC_DB_MAX_OVERFLOW": "0",
        "RESYNC_DB_POOL_TIMEOUT": "1",
        "RESYNC_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "resync_fastapi.main:create_app"]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # a loaded machine starts Python slowly
        while True:
            assert process.poll() is None, "uvicorn exited"
            try:
                httpx.get(f"{base_url}/health/live", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "uvicorn did not answer"
                time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _burst(base_url: str) -> tuple[Counter[int], int, int]:
    """Send the burst (one fresh token each: 40 user lookups through a pool of 2), then a
    database-only request while the burst hangs. Return the burst's statuses, the database-only
    answer's status and how many burst answers had arrived before it."""
    limits = httpx.Limits(max_connections=BURST + 10, max_keepalive_connections=BURST + 10)
    timeout = httpx.Timeout(TWS_TIMEOUT_SECONDS * 10)
    done: list[int] = []
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:

        async def tws_bound() -> int:
            token = mint("viewer", "viewer")
            answer = await client.get(
                "/api/v1/status/jobs", headers={"Authorization": f"Bearer {token}"}
            )
            done.append(answer.status_code)
            return answer.status_code

        burst = [asyncio.create_task(tws_bound()) for _ in range(BURST)]
        await asyncio.sleep(0.5)  # the burst is in flight, every request waiting on TWS
        agents = await client.get(
            "/api/v1/agents", headers={"Authorization": f"Bearer {mint('operator', 'operator')}"}
        )
        finished_before_agents = len(done)
        statuses = Counter(await asyncio.gather(*burst))
    return statuses, agents.status_code, finished_before_agents


def test_a_burst_with_tws_hanging_is_all_504_and_the_database_routes_keep_answering(
    small_pool_server: str,
) -> None:
    statuses, agents_status, finished_before_agents = asyncio.run(_burst(small_pool_server))
    assert statuses == Counter({504: BURST})
    assert agents_status == 200
    # The database-only route did not queue behind the hanging TWS calls.
    assert finished_before_agents == 0
