"""Whole plans on a real uvicorn with two workers, against the Resync apps, under load.

The proxy runs as ``uvicorn --workers 2`` (what ``resync-strangler serve --workers 2`` starts)
over the two Resync apps, each app calling its own TWS simulator so that a fault can be injected
into the new side only. A bounded async load loop (Locust-shaped: a pool of users, each with its
own token, short random waits) runs throughout. Timings are measured and printed, not asserted
tightly: the machine is shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

import migrations
from proxy.flags.stores import open_store
from proxy.routing.decide import bucket_for
from tests.services import REPO_ROOT, TwsSim, free_port, start_tws_sim

ROUTE = "GET /api/v1/status/workstations"
PATH = "/api/v1/status/workstations"
USERS = [f"tester{i:02d}" for i in range(30)]

# Two workers with both apps start slowly on a busy machine, and each plan runs for seconds.
pytestmark = pytest.mark.timeout(400)
PASSWORD = "rollout-test-password"  # a test user's


@pytest.fixture(scope="module")
def resync_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'resync.db'}"
    migrations.upgrade(url)
    migrations.seed(url, environment="test")
    return url


@pytest.fixture(scope="module")
def sims() -> Iterator[tuple[TwsSim, TwsSim]]:
    started = [start_tws_sim(), start_tws_sim()]
    try:
        yield started[0][1], started[1][1]
    finally:
        for process, _ in started:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture
def new_sim(sims: tuple[TwsSim, TwsSim]) -> Iterator[TwsSim]:
    sims[1].reset()
    yield sims[1]
    sims[1].reset()


@dataclass
class Served:
    base_url: str
    log: Path
    process: subprocess.Popen[bytes]
    store_url: str


def _poll(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def two_workers(
    folder: Path, resync_db: str, sims: tuple[TwsSim, TwsSim], store_url: str
) -> Iterator[Served]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRANGLER_", "RESYNC_"))}
    env.update(
        {
            "RESYNC_ENV": "test",
            "RESYNC_DATABASE_URL": resync_db,
            "RESYNC_TWS_URL": sims[0].twsd_url,
            "TEST_NEW_TWS_URL": sims[1].twsd_url,
            "STRANGLER_FLAG_STORE_URL": store_url,
            "STRANGLER_MISMATCH_DB": str(folder / "mismatches.db"),
            "STRANGLER_POLL_INTERVAL": "0.1",
            "STRANGLER_ACCESS_LOG": "false",
            "STRANGLER_LEGACY_THREADS": "8",
            "STRANGLER_AUTOPILOT_INTERVAL": "0.5",
            "STRANGLER_AUTOPILOT_LEASE_TTL": "2",
        }
    )
    log = folder / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "tests.proxy.rollout.resync_factory:create_proxy_with_own_new_tws",
                "--workers",
                "2",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited: {log.read_text()}")
        try:
            return httpx.get(f"{base_url}/_strangler/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        _poll(ready, 90, "the proxy answers")
        yield Served(base_url, log, process, store_url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _login(http: httpx.Client, username: str, password: str) -> str:
    response = http.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _tokens(http: httpx.Client) -> tuple[dict[str, str], dict[str, str]]:
    """The admin's headers and one token per load user (creating the users once)."""
    admin = {"Authorization": f"Bearer {_login(http, 'admin', 'resync-admin-dev')}"}
    tokens = {}
    for user in USERS:
        created = http.post(
            "/api/v1/users",
            json={
                "username": user,
                "password": PASSWORD,
                "role": "viewer",
                "full_name": user,
                "email": f"{user}@resync.example",
            },
            headers=admin,
        )
        assert created.status_code in (201, 409), created.text
        tokens[user] = _login(http, user, PASSWORD)
    return admin, tokens


@dataclass
class Load:
    """A bounded async load loop in a thread: ``concurrency`` users, each on its own token."""

    base_url: str
    tokens: dict[str, str]
    concurrency: int = 6
    records: list[tuple[float, float, str, int, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Load:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=30)

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=self.concurrency * 2)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10, limits=limits) as http:
            await asyncio.gather(*(self._user(http, i) for i in range(self.concurrency)))

    async def _user(self, http: httpx.AsyncClient, index: int) -> None:
        users = list(self.tokens)[index :: self.concurrency]
        rng = random.Random(index)
        turn = 0
        while not self._stop.is_set():
            user = users[turn % len(users)]
            turn += 1
            sent = time.monotonic()
            try:
                response = await http.get(
                    PATH, headers={"Authorization": f"Bearer {self.tokens[user]}"}
                )
                status, side = response.status_code, response.headers.get("x-served-by", "")
            except httpx.HTTPError:
                status, side = 0, ""
            self.records.append((sent, time.monotonic(), user, status, side))
            await asyncio.sleep(rng.uniform(0.005, 0.03))

    def failures(self) -> list[tuple[float, float, str, int, str]]:
        return [r for r in self.records if r[3] == 0 or r[3] >= 500]


def _plans(http: httpx.Client, admin: dict[str, str]) -> dict[str, Any]:
    response = http.get("/_strangler/plans", headers=admin)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _plan(http: httpx.Client, admin: dict[str, str]) -> dict[str, Any]:
    (item,) = [p for p in _plans(http, admin)["items"] if p["route"] == ROUTE]
    return dict(item)


# On this shared two-core machine the in-process new app and the legacy thread pool compete for
# one GIL (docs/architecture.md, "mixed-table GIL starvation"): during a canary the new side is
# often measurably slower for reasons that have nothing to do with its code. The latency gates
# are exercised by tests/proxy/rollout/test_gates.py and test_autopilot.py; here they are off
# (a measured p95 of new 4.3x legacy's, with no fault at all, rolled a canary back).
E2E_GATES = {"max_slower_probability": 1.0, "max_p95_ratio": 1000.0}


def _set_plan(http: httpx.Client, admin: dict[str, str], steps: str) -> None:
    response = http.post(
        "/_strangler/plans",
        json={"route": ROUTE, "steps": steps, "reason": "e2e rollout", "gates": E2E_GATES},
        headers=admin,
    )
    assert response.status_code == 201, response.text


def _history(http: httpx.Client, admin: dict[str, str]) -> list[dict[str, Any]]:
    response = http.get("/_strangler/plans/history", params={"route": ROUTE}, headers=admin)
    return list(reversed(response.json()["items"]))


def _wait_status(http: httpx.Client, admin: dict[str, str], status: str, timeout: float) -> dict:
    def reached() -> dict[str, Any] | None:
        plan = _plan(http, admin)
        if plan["status"] == status:
            return plan
        if plan["status"] in ("paused", "aborted") and status not in ("paused", "aborted"):
            pytest.fail(f"plan stopped: {plan['reason']} {plan['verdict']}")
        return None

    return dict(_poll(reached, timeout, f"plan {status}"))


def test_a_whole_plan_reaches_new_under_load_on_two_workers(
    tmp_path: Path, resync_db: str, sims: tuple[TwsSim, TwsSim], new_sim: TwsSim
) -> None:
    store_url = f"sqlite:///{tmp_path / 'flags.db'}"
    with (
        two_workers(tmp_path, resync_db, sims, store_url) as served,
        httpx.Client(base_url=served.base_url, timeout=10) as http,
    ):
        admin, tokens = _tokens(http)
        with Load(served.base_url, tokens) as load:
            started = time.monotonic()
            _set_plan(
                http,
                admin,
                "shadow 2s 20req -> canary 20% 2s 20req -> 50% 2s 30req -> new 2s 30req -> new",
            )
            plan = _wait_status(http, admin, "done", 120)
            took = time.monotonic() - started
        assert plan["current"] == "new"
        assert load.failures() == []
        served_by = {r[4] for r in load.records}
        assert served_by == {"legacy", "new"}
        events = http.get("/_strangler/events", params={"route": ROUTE}, headers=admin).json()
        autopilot = [e for e in reversed(events["items"]) if e["actor"] == "autopilot"]
        assert [(e["to"], e["percent"]) for e in autopilot] == [
            ("shadow", 0),
            ("canary", 20),
            ("canary", 50),
            ("new", 0),
        ]
        assert "canary 20% passed" in autopilot[2]["reason"]
        assert "req" in autopilot[2]["reason"] and "p95" in autopilot[2]["reason"]
        kinds = [(h["kind"], h.get("step")) for h in _history(http, admin) if h["kind"] != "plan"]
        assert kinds == [("step", 0), ("step", 1), ("step", 2), ("step", 3), ("done", 4)]
        passed = [h for h in _history(http, admin) if h["kind"] in ("step", "done")][1:]
        assert all(h["figures"]["gates"] for h in passed)
    print(f"plan of 5 steps reached new in {took:.1f} s over {len(load.records)} requests")


def _store_mode(store_url: str, stop: threading.Event, seen: dict[str, float]) -> None:
    """Note when the store first shows the canary, and then the first legacy after it."""

    async def watch() -> None:
        store = open_store(store_url)
        await store.open()
        try:
            while not stop.is_set():
                flag = (await store.load()).get(ROUTE)
                mode = flag.mode.value if flag is not None else "legacy"
                if mode == "canary" or "canary" in seen:
                    seen.setdefault(mode, time.monotonic())
                await asyncio.sleep(0.01)
        finally:
            await store.close()

    asyncio.run(watch())


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
)
def test_a_fault_in_the_new_side_is_rolled_back_and_only_canary_users_saw_it(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    resync_db: str,
    sims: tuple[TwsSim, TwsSim],
    new_sim: TwsSim,
    kind: str,
) -> None:
    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    if kind == "sqlite":
        store_url = f"sqlite:///{tmp_path / 'flags.db'}"
    elif kind == "redis":
        prefix = f"rollout-{os.getpid()}-{time.time_ns()}"
        store_url = f"{request.getfixturevalue('redis_url')}?prefix={prefix}"
    else:
        from tests.services import create_postgres_database, drop_postgres_database

        admin_url = request.getfixturevalue("postgres_admin_url")
        store_url = create_postgres_database(admin_url)
        cleanup = lambda: drop_postgres_database(admin_url, store_url)  # noqa: E731
    percent = 25
    try:
        with (
            two_workers(tmp_path, resync_db, sims, store_url) as served,
            httpx.Client(base_url=served.base_url, timeout=10) as http,
        ):
            admin, tokens = _tokens(http)
            stop = threading.Event()
            seen: dict[str, float] = {}
            watcher = threading.Thread(target=_store_mode, args=(store_url, stop, seen))
            watcher.start()
            try:
                with Load(served.base_url, tokens) as load:
                    _set_plan(http, admin, f"canary {percent}% 60s 100000req -> new")
                    _poll(lambda: "canary" in seen, 30, "the canary step is applied")
                    _poll(
                        lambda: sum(r[4] == "new" for r in load.records) > 20,
                        30,
                        "the canary serves new",
                    )
                    faulted = time.monotonic()
                    new_sim.configure(error_rate=1.0)
                    _poll(lambda: seen.get("canary") and "legacy" in seen, 30, "a rollback")
                    rolled_back = seen["legacy"]
                    time.sleep(3)
            finally:
                stop.set()
                watcher.join(timeout=10)
            plan = _plan(http, admin)
            history = _history(http, admin)
            metrics_text = ""
            for _ in range(40):  # each worker has its own registry: find the holder's
                # A new connection each time, so the kernel may hand it to either worker.
                metrics_text = httpx.get(
                    f"{served.base_url}/metrics", headers={"Connection": "close"}
                ).text
                if f'strangler_autopilot_rollbacks_total{{route="{ROUTE}"}} 1.0' in metrics_text:
                    break
            assert plan["status"] == "paused"
        assert plan["reason"].startswith("rolled back from canary 25% to legacy: ")
        assert "error rate new" in plan["reason"]
        assert [h["kind"] for h in history][-2:] == ["rollback", "pause"]
        assert history[-2]["figures"]["gates"]["errors"]["ok"] is False
        assert f'strangler_autopilot_rollbacks_total{{route="{ROUTE}"}} 1.0' in metrics_text
        assert "autopilot_rollback" in served.log.read_text()
        failures = load.failures()
        assert failures, "the fault never reached a client: nothing was tested"
        # 0 failed requests beyond the canary share: every failure was a canary user on new.
        assert {f[4] for f in failures} == {"new"}
        assert all(bucket_for(f"sub:{f[2]}") < percent for f in failures)
        # When each worker last *sent* a request to new, relative to the store's change: the
        # request was decided (routed) no later than that.
        last_new = max(r[0] for r in load.records if r[4] == "new")
        assert last_new - rolled_back < 5  # a guard; the figure is printed below
        window = [r for r in load.records if faulted <= r[0] <= rolled_back]
    finally:
        cleanup()
    print(
        f"[{kind}] rollback {rolled_back - faulted:.2f} s after the fault;"
        f" last request routed to new {(last_new - rolled_back) * 1000:+.0f} ms from"
        f" the store's change (negative: before the test saw it); failing window:"
        f" {len(failures)} failed of {len(window)} requests"
        f" (canary share {percent} %)"
    )


def test_killing_the_lease_holder_hands_the_plan_to_the_other_worker(
    tmp_path: Path, resync_db: str, sims: tuple[TwsSim, TwsSim], new_sim: TwsSim
) -> None:
    store_url = f"sqlite:///{tmp_path / 'flags.db'}"
    with (
        two_workers(tmp_path, resync_db, sims, store_url) as served,
        # No keep-alive: the worker this client talks to may be the one killed.
        httpx.Client(
            base_url=served.base_url,
            timeout=10,
            limits=httpx.Limits(max_keepalive_connections=0),
        ) as http,
    ):
        admin, tokens = _tokens(http)
        with Load(served.base_url, tokens) as load:
            _set_plan(
                http, admin, "canary 10% 3s 20req -> 30% 3s 20req -> 60% 3s 20req -> new 2s -> new"
            )
            _poll(lambda: _plan(http, admin)["step"] >= 1, 60, "the plan is at step 2")
            lease = _poll(lambda: _plans(http, admin)["lease"], 10, "a lease holder")
            holder_pid = int(lease["holder"].split(":")[1])
            os.kill(holder_pid, signal.SIGKILL)
            killed = time.monotonic()

            def taken_over() -> dict[str, Any] | None:
                current = _plans(http, admin)["lease"]
                return current if current and current["holder"] != lease["holder"] else None

            successor = _poll(taken_over, 30, "another worker takes the lease")
            took_over = time.monotonic() - killed
            plan = _wait_status(http, admin, "done", 120)
        assert successor["term"] > lease["term"]
        assert int(successor["holder"].split(":")[1]) != holder_pid
        assert plan["current"] == "new"
        steps = [h["step"] for h in _history(http, admin) if h["kind"] in ("step", "done")]
        assert steps == [0, 1, 2, 3, 4]  # each step applied once: one driver at a time
        events = http.get("/_strangler/events", params={"route": ROUTE}, headers=admin).json()
        autopilot = [e for e in reversed(events["items"]) if e["actor"] == "autopilot"]
        assert [(e["to"], e["percent"]) for e in autopilot] == [
            ("canary", 10),
            ("canary", 30),
            ("canary", 60),
            ("new", 0),
        ]
    lost = [r for r in load.records if r[3] == 0]
    print(
        f"lease taken over {took_over:.2f} s after SIGKILL of the holder (ttl 2 s);"
        f" {len(lost)} requests lost with the killed worker's connections"
    )
