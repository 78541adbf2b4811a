"""How long a flip takes to reach every worker of every host, under load: ``make propagation``.

``python -m loadtest.propagation --flips 100`` runs, for each store of ``--stores``:

* **postgresql**, **redis**: ``--hosts`` (2) namespaced hosts (:mod:`loadtest.netns`), each a
  ``resync-strangler serve --workers 2`` reaching the shared store through its own store link;
* **sqlite**: one host (the root namespace) with ``--workers`` workers on one flag file.

While ``--clients`` clients per host send ``GET /api/v1/agents`` (the admin token, a pause of
``--pause-ms`` between two requests), the route is flipped ``--flips`` times between legacy and
new through the first host's admin API. For each flip the time is taken from the admin API's
200 until every worker of every host reports the new table version: pollers open a fresh
connection per ``GET /_strangler/health`` (so the kernel hands it to any worker) and note when
each worker (its pid, ``worker`` in the answer) first answers with the new version. Reported:
p50/p99/max of that propagation time and of the admin round trip, per store, and the client
requests that failed (a transport error or a status other than 200). Writes
``propagation.json`` and ``propagation.md`` into ``loadtest/reports/<date>-propagation/``.

Targets (issue 13): p99 <= 1 s with SQLite, <= 150 ms with Redis and PostgreSQL, 0 failed.
Needs root and ``ip netns`` for the namespaced stores, PostgreSQL and Redis on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shlex
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from loadtest.fixtures import (
    ADMIN_PASSWORD,
    checkpoint,
    copy_database,
    free_port,
    report_folder,
    seed_template,
    sign_in,
)
from loadtest.netns import (
    Cluster,
    HostNetwork,
    netns_available,
    postgres_database,
    proxy_executable,
    redis_prefix,
)
from loadtest.servers import REPO_ROOT, Server, server_environment
from loadtest.settings import REPORTS_DIR

__all__ = ["Flip", "PropagationSettings", "StoreRun", "main", "percentile", "run_store"]

STORES = ("sqlite", "redis", "postgresql")
ROUTE = "GET /api/v1/agents"
PATH = "/api/v1/agents"
TARGET_MS = {"sqlite": 1000.0, "redis": 150.0, "postgresql": 150.0}
POSTGRES_ADMIN_URL = os.environ.get(
    "RESYNC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("RESYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@dataclass(frozen=True, slots=True)
class PropagationSettings:
    """What a run is parametrised by (the command-line options)."""

    stores: tuple[str, ...] = STORES
    flips: int = 100
    hosts: int = 2
    workers: int = 2
    clients: int = 4
    pause_ms: int = 10
    pollers: int = 3
    flip_timeout: float = 10.0
    label: str = "propagation"
    report_dir: Path = REPORTS_DIR
    work_dir: Path = REPO_ROOT / "var" / "propagation"
    command: str = ""


@dataclass(slots=True)
class Flip:
    """One flip: the version it made, the admin round trip, when the last worker had it."""

    number: int
    mode: str
    version: int
    admin_ms: float
    propagation_ms: float | None  # None: some worker never showed it within the timeout
    last: str = ""  # the worker that showed it last, "host<n>:<pid>"
    answered_at: float = 0.0  # wall clock of the admin API's 200
    swap_ms: float | None = None  # from the 200 until the last worker logged the new table


@dataclass(slots=True)
class StoreRun:
    """Every flip on one store, and what the clients saw meanwhile."""

    store: str
    hosts: int
    workers: int
    flips: list[Flip] = field(default_factory=list)
    requests: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    error: str = ""

    def swaps(self) -> list[float]:
        """From the 200 until the last worker's ``flag_table_loaded`` line, in ms."""
        return [f.swap_ms for f in self.flips if f.swap_ms is not None]

    def propagation(self) -> list[float]:
        """Propagation times of the flips that propagated, in ms."""
        return [f.propagation_ms for f in self.flips if f.propagation_ms is not None]

    @property
    def lost(self) -> int:
        """Flips some worker never showed within the timeout."""
        return sum(1 for f in self.flips if f.propagation_ms is None)

    def summary(self) -> dict[str, Any]:
        """p50/p99/max of propagation and admin round trip; the verdict against the target."""
        times = self.propagation()
        admin = [f.admin_ms for f in self.flips]
        swaps = self.swaps()
        p99 = percentile(times, 0.99)
        target = TARGET_MS[self.store]
        met = (
            not self.error
            and bool(self.flips)
            and self.lost == 0
            and self.failed == 0
            and p99 is not None
            and p99 <= target
        )
        return {
            "store": self.store,
            "hosts": self.hosts,
            "workers_per_host": self.workers,
            "flips": len(self.flips),
            "lost": self.lost,
            "p50_ms": percentile(times, 0.5),
            "p99_ms": p99,
            "max_ms": max(times) if times else None,
            "swap_p50_ms": percentile(swaps, 0.5),
            "swap_p99_ms": percentile(swaps, 0.99),
            "admin_p50_ms": percentile(admin, 0.5),
            "admin_p99_ms": percentile(admin, 0.99),
            "requests": self.requests,
            "failed": self.failed,
            "target_p99_ms": target,
            "verdict": "met" if met else ("incomplete" if self.error else "missed"),
        }


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (``0.99``), ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 1)


def _say(message: str) -> None:
    print(f"[propagation {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


@dataclass(slots=True)
class Target:
    """One host: where it answers and the pids of its workers."""

    name: str
    base_url: str
    workers: set[int] = field(default_factory=set)


async def _health(url: str) -> dict[str, Any] | None:
    """``GET /_strangler/health`` on a fresh connection (any worker may take it), or None.

    Plain asyncio streams rather than an HTTP client: the pollers' own cost is what the
    measurement adds to every flip, so it is kept to a connect, a write and a read.
    """
    parts = urlsplit(url)
    try:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            writer.write(
                b"GET /_strangler/health HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n"
            )
            data = await reader.read(-1)
        finally:
            writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            return None
        answer: dict[str, Any] = json.loads(body)
    except (OSError, ValueError):
        return None
    return answer


async def discover_workers(targets: list[Target], workers: int, within: float = 60.0) -> None:
    """Poll each host with fresh connections until ``workers`` distinct pids have answered."""
    deadline = time.monotonic() + within
    for target in targets:
        while len(target.workers) < workers:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{target.name}: saw workers {sorted(target.workers)}, expected {workers}"
                )
            body = await _health(target.base_url)
            if body is not None and body.get("status") == "ok":
                target.workers.add(int(body["worker"]))


async def wait_for_version(
    targets: list[Target], version: int, pollers: int, within: float
) -> tuple[float | None, str]:
    """Monotonic time at which the last worker of every target showed ``version`` (or None)."""
    pending = {(t.name, pid) for t in targets for pid in t.workers}
    seen: dict[tuple[str, int], float] = {}

    async def poll(target: Target) -> None:
        while any(name == target.name for name, _ in pending):
            body = await _health(target.base_url)
            if body is None:
                await asyncio.sleep(0.005)
                continue
            key = (target.name, int(body.get("worker", 0)))
            if key in pending and int(body.get("version", -1)) >= version:
                seen[key] = time.monotonic()
                pending.discard(key)

    tasks = [poll(t) for t in targets for _ in range(pollers)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*tasks), within)
    if pending:
        return None, ",".join(f"{name}:{pid}" for name, pid in sorted(pending))
    last = max(seen, key=lambda key: seen[key])
    return seen[last], f"{last[0]}:{last[1]}"


async def _client(
    url: str, admin: dict[str, str], pause: float, stop: asyncio.Event, run: StoreRun
) -> None:
    failures: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=url, headers=admin, timeout=10) as http:
        while not stop.is_set():
            try:
                response = await http.get(PATH)
                outcome = "" if response.status_code == 200 else str(response.status_code)
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            run.requests += 1
            if outcome:
                run.failed += 1
                failures[outcome] += 1
            await asyncio.sleep(pause)
    for outcome, count in failures.items():
        run.failures[outcome] = run.failures.get(outcome, 0) + count


async def measure(
    targets: list[Target], admin: dict[str, str], settings: PropagationSettings, run: StoreRun
) -> None:
    """Flip under load; append each flip to ``run``."""
    await discover_workers(targets, settings.workers)
    stop = asyncio.Event()
    clients = [
        asyncio.create_task(_client(t.base_url, admin, settings.pause_ms / 1000, stop, run))
        for t in targets
        for _ in range(settings.clients)
    ]
    flipper = targets[0].base_url
    try:
        await asyncio.sleep(2.0)  # the load is running before the first flip
        async with httpx.AsyncClient(base_url=flipper, headers=admin, timeout=30) as http:
            for number in range(1, settings.flips + 1):
                mode = "new" if number % 2 else "legacy"
                began = time.monotonic()
                response = await http.post(
                    "/_strangler/routes",
                    json={"route": ROUTE, "mode": mode, "reason": f"propagation flip {number}"},
                )
                answered = time.monotonic()
                answered_at = time.time()
                if response.status_code != 200:
                    raise RuntimeError(f"flip {number}: {response.status_code} {response.text}")
                version = int(response.json()["version"])
                at, last = await wait_for_version(
                    targets, version, settings.pollers, settings.flip_timeout
                )
                propagation = None if at is None else round(max(0.0, at - answered) * 1000, 1)
                run.flips.append(
                    Flip(
                        number,
                        mode,
                        version,
                        round((answered - began) * 1000, 1),
                        propagation,
                        last,
                        answered_at,
                    )
                )
                if number % 20 == 0:
                    _say(f"{run.store}: {number} flips, last {propagation} ms")
                await asyncio.sleep(random.uniform(0.1, 0.3))
    finally:
        stop.set()
        await asyncio.gather(*clients, return_exceptions=True)


def table_swaps(logs: Sequence[Path]) -> dict[int, list[float]]:
    """Wall-clock times of every ``flag_table_loaded`` line in the proxies' logs, by version."""
    loaded: dict[int, list[float]] = {}
    for path in logs:
        with contextlib.suppress(OSError), path.open(encoding="utf-8", errors="replace") as log:
            for line in log:
                if '"flag_table_loaded"' not in line:
                    continue
                try:
                    entry = json.loads(line)
                    at = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00"))
                except (ValueError, KeyError, AttributeError):
                    continue
                loaded.setdefault(int(entry["version"]), []).append(at.timestamp())
    return loaded


def add_swap_times(run: StoreRun, logs: Sequence[Path]) -> None:
    """Set each flip's ``swap_ms`` from the logs (None unless every worker logged it)."""
    loaded = table_swaps(logs)
    expected = run.hosts * run.workers
    for flip in run.flips:
        times = loaded.get(flip.version, [])
        if len(times) >= expected:
            flip.swap_ms = round(max(0.0, max(times) - flip.answered_at) * 1000, 1)


def _template(work: Path) -> Path:
    path = work / "template.db"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        seed_template(path)
        checkpoint(path)
    return path


@contextlib.contextmanager
def _store_url(store: str, work: Path) -> Iterator[str]:
    if store == "postgresql":
        with postgres_database(POSTGRES_ADMIN_URL, "hosts_prop") as url:
            yield url
    elif store == "redis":
        with redis_prefix(REDIS_URL, "hosts-prop") as url:
            yield url
    else:
        yield f"sqlite:///{work / 'sqlite' / 'flags.db'}"


@contextlib.contextmanager
def _sqlite_host(store_url: str, template: Path, work: Path, workers: int) -> Iterator[Server]:
    folder = work / "sqlite"
    port = free_port()
    env = server_environment(
        database_url=copy_database(template, folder / "resync.db"),
        tws_url="http://127.0.0.1:9/twsd",
        extra={
            "STRANGLER_FLAG_STORE_URL": store_url,
            "STRANGLER_MISMATCH_DB": str(folder / "mismatches.db"),
            "STRANGLER_ACCESS_LOG": "false",
            "STRANGLER_LEGACY_THREADS": "4",
        },
    )
    command = [
        *proxy_executable(), "serve", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--log-level", "warning",
    ]  # fmt: skip
    with Server(command, env, f"http://127.0.0.1:{port}", folder / "proxy.log") as server:
        yield server


def run_store(store: str, settings: PropagationSettings, work: Path) -> StoreRun:
    """Measure one store end to end (start the hosts, flip, stop everything)."""
    hosts = 1 if store == "sqlite" else settings.hosts
    run = StoreRun(store, hosts, settings.workers)
    template = _template(work)
    folder = work / store
    logs: list[Path] = []
    try:
        with contextlib.ExitStack() as stack:
            url = stack.enter_context(_store_url(store, work))
            if store == "sqlite":
                servers = [stack.enter_context(_sqlite_host(url, template, work, settings.workers))]
            else:
                network = stack.enter_context(HostNetwork(hosts))
                cluster = Cluster(network, url, template, folder, workers=settings.workers)
                servers = stack.enter_context(cluster).servers
            logs = [server.log_path for server in servers]
            _say(f"{store}: {len(servers)} host(s) x {settings.workers} workers up")
            admin = sign_in(servers[0].base_url, "admin", ADMIN_PASSWORD)
            targets = [Target(f"host{n}", s.base_url) for n, s in enumerate(servers)]
            asyncio.run(measure(targets, admin, settings, run))
    except Exception as exc:  # reported with what was measured so far
        run.error = f"{type(exc).__name__}: {exc}"
        _say(f"{store}: stopped: {run.error}")
    add_swap_times(run, logs)  # the proxies have stopped: their buffered log lines are out
    return run


def write_report(runs: list[StoreRun], settings: PropagationSettings, folder: Path) -> Path:
    """Write ``propagation.json`` and ``propagation.md``; return the Markdown file."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "settings": {
            **asdict(settings),
            "report_dir": str(settings.report_dir),
            "work_dir": str(settings.work_dir),
        },
        "stores": [
            {**run.summary(), "failures": run.failures, "error": run.error,
             "flip_list": [asdict(f) for f in run.flips]}
            for run in runs
        ],
    }  # fmt: skip
    (folder / "propagation.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    lines = [
        f"# Flip propagation across hosts, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{settings.command or 'python -m loadtest.propagation'}`",
        "",
        f"- {settings.flips} flips of `{ROUTE}` (legacy <-> new) through the first host's admin "
        f"API; {settings.clients} clients per host sending `GET {PATH}` meanwhile "
        f"({settings.pause_ms} ms pause between two requests).",
        "- Propagation: from the admin API's 200 until every worker of every host answers "
        "`/_strangler/health` with the new version (fresh connection per poll, "
        f"{settings.pollers} pollers per host).",
        "- PostgreSQL and Redis: hosts in network namespaces reaching the store through their "
        "own veth link and a forwarder; SQLite: one host, one flag file.",
        "",
        "- Swap: from the admin API's 200 until the last worker logged `flag_table_loaded` for "
        "the new version (the proxies' own timestamps, free of the pollers' delay).",
        "",
        "| store | hosts x workers | flips | lost | p50 ms | p99 ms | max ms | swap p50 ms "
        "| swap p99 ms | admin p50 ms | admin p99 ms | requests | failed | target p99 | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        s = run.summary()
        lines.append(
            f"| {s['store']} | {s['hosts']} x {s['workers_per_host']} | {s['flips']} | "
            f"{s['lost']} | {s['p50_ms']} | {s['p99_ms']} | {s['max_ms']} | "
            f"{s['swap_p50_ms']} | {s['swap_p99_ms']} | "
            f"{s['admin_p50_ms']} | {s['admin_p99_ms']} | {s['requests']:,} | {s['failed']} | "
            f"<= {s['target_p99_ms']:g} | {s['verdict']} |"
        )
    for run in runs:
        if run.error:
            lines += ["", f"{run.store} stopped early: {run.error}"]
        if run.failures:
            lines += ["", f"{run.store} failed requests: {run.failures}"]
    path = folder / "propagation.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _parse(argv: Sequence[str] | None) -> PropagationSettings:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.propagation",
        description="Flip a route under load; time until every worker of every host has it.",
    )
    parser.add_argument("--stores", default=",".join(STORES), help="sqlite,redis,postgresql")
    parser.add_argument("--flips", type=int, default=100, help="flips per store (100)")
    parser.add_argument("--hosts", type=int, default=2, help="namespaced hosts (2)")
    parser.add_argument("--workers", type=int, default=2, help="workers per host (2)")
    parser.add_argument("--clients", type=int, default=4, help="load clients per host (4)")
    parser.add_argument("--pause-ms", type=int, default=10, help="pause between requests (10)")
    parser.add_argument("--pollers", type=int, default=3, help="health pollers per host (3)")
    parser.add_argument("--label", default="propagation", help="report folder <date>-<label>")
    parser.add_argument("--report-dir", type=Path, default=REPORTS_DIR)
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / "var" / "propagation")
    args = parser.parse_args(argv)
    stores = tuple(s.strip() for s in args.stores.split(",") if s.strip())
    unknown = sorted(set(stores) - set(STORES))
    if unknown or not stores:
        parser.error(
            f"--stores: unknown {', '.join(unknown) or '(none)'}; known: sqlite,redis,postgresql"
        )
    for name in ("flips", "hosts", "workers", "clients", "pollers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return PropagationSettings(
        stores=stores,
        flips=args.flips,
        hosts=args.hosts,
        workers=args.workers,
        clients=args.clients,
        pause_ms=max(0, args.pause_ms),
        pollers=args.pollers,
        label=args.label,
        report_dir=args.report_dir,
        work_dir=args.work_dir,
        command=shlex.join(["python", "-m", "loadtest.propagation", *(argv or sys.argv[1:])]),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run every store asked; exit 0 when each met its target, 1 otherwise."""
    settings = _parse(argv)
    if any(store != "sqlite" for store in settings.stores):
        ok, reason = netns_available()
        if not ok:
            print(f"network namespaces are not available: {reason}", file=sys.stderr)
            return 2
    stamp = datetime.now(UTC)
    work = settings.work_dir / f"{stamp:%Y%m%dT%H%M%S}"
    runs = [run_store(store, settings, work) for store in settings.stores]
    path = write_report(runs, settings, report_folder(settings.report_dir, settings.label, stamp))
    print(path.read_text(encoding="utf-8"))
    return 0 if all(run.summary()["verdict"] == "met" for run in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
