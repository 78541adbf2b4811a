"""Measure what traffic capture costs: ``GET /api/v1/agents`` through the proxy, capture off and on.

    .venv/bin/python -m loadtest.capture_bench [--duration 20] [--users 20] [--side legacy|new|both]
        [--rounds N]

For each side (the route on ``legacy``, then on ``new``) it runs the proxy twice, without a
capture policy and with ``sample_rate = 1`` on the route, each time on a fresh copy of one
seeded database (``--rounds N`` alternates off and on N times and sums up with medians, so a
drift in the machine's load hits both alike): the proxy pinned to core 0, Locust's
``AgentsUser`` pinned to core 1 with pre-issued tokens. It reports the server's CPU time per
request (utime+stime of the proxy's process tree over the requests its own metrics counted:
steady even when other work shares the machine) and the throughput Locust saw (noisy on a
shared machine), plus what the capture writer stored and dropped. Standalone on purpose:
``loadtest/bench.py`` measures serving modes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import median
from typing import Any

import httpx

from loadtest.results import AGGREGATED, read_stats_csv
from loadtest.servers import REPO_ROOT, Server, pinned, server_command, server_environment
from loadtest.usage import tree_cpu_seconds

SECRET_KEY = "capture-bench-secret-key-of-at-least-32-bytes-01"
ROUTE = "GET /api/v1/agents"


@dataclass
class Run:
    """One measured run."""

    side: str
    capture: bool
    requests: int
    cpu_seconds: float
    rps: float
    failures: int
    stored: int
    dropped: int

    @property
    def cpu_ms_per_request(self) -> float:
        """Server CPU milliseconds per answered request."""
        return 1000 * self.cpu_seconds / self.requests if self.requests else float("nan")


def _metric(text: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def _seed(folder: Path) -> Path:
    import migrations

    path = folder / "template.db"
    migrations.upgrade(f"sqlite:///{path}")
    migrations.seed(f"sqlite:///{path}", environment="development")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def _start(
    side: str, capture: bool, template: Path, folder: Path, args: argparse.Namespace
) -> Server:
    """Start the proxy serving the route from ``side`` on a fresh copy of the seeded database."""
    folder.mkdir(parents=True)
    database = folder / "resync.db"
    shutil.copyfile(template, database)
    flags = folder / "flags.toml"
    flags.write_text(f'[routes."{ROUTE}"]\nmode = "{side}"\n')
    extra = {
        "RESYNC_ENV": "development",
        "RESYNC_SECRET_KEY": SECRET_KEY,
        "STRANGLER_FLAG_STORE_URL": f"sqlite:///{folder / 'flags.db'}",
        "STRANGLER_FLAG_FILE": str(flags),
        "STRANGLER_MISMATCH_DB": str(folder / "mismatches.db"),
        "STRANGLER_ACCESS_LOG": "false",
        "RESYNC_LOG_LEVEL": "WARNING",
    }
    if capture:
        policy = folder / "capture.toml"
        policy.write_text(f'version = 1\n[routes."{ROUTE}"]\nsample_rate = 1.0\n')
        extra["STRANGLER_CAPTURE_FILE"] = str(policy)
        extra["STRANGLER_CAPTURE_STORE_URL"] = f"sqlite:///{folder / 'capture.db'}"
    port = int(args.port_base) + (2 if side == "new" else 0) + (1 if capture else 0)
    env = server_environment(
        database_url=f"sqlite:///{database}", tws_url=args.tws_url, extra=extra
    )
    command = pinned(server_command("proxy", host="127.0.0.1", port=port), args.server_core)
    return Server(command, env, f"http://127.0.0.1:{port}", folder / "proxy.log").start()


def _run(side: str, capture: bool, template: Path, folder: Path, args: argparse.Namespace) -> Run:
    from proxy.traffic.resync_replay import mint_access_token

    server = _start(side, capture, template, folder, args)
    try:
        token = mint_access_token(SECRET_KEY, "operator", "operator")
        tokens = folder / "tokens.tsv"
        tokens.write_text(f"operator\t{token}\n")
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            for _ in range(300):  # warm caches, the pool and the capture writer before measuring
                client.get("/api/v1/agents", headers={"Authorization": f"Bearer {token}"})
        before = httpx.get(server.base_url + "/metrics", timeout=10).text
        cpu_before = tree_cpu_seconds(server.pid)
        prefix = folder / "locust"
        locust = [
            sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "loadtest" / "locustfile.py"),
            "--headless", "--only-summary", "--host", server.base_url,
            "--users", str(args.users), "--spawn-rate", str(args.users),
            "--run-time", f"{args.duration}s", "--stop-timeout", "5", "--csv", str(prefix),
            "--resync-tokens-file", str(tokens), "AgentsUser",
        ]  # fmt: skip
        with (folder / "locust.log").open("wb") as out:
            subprocess.run(
                pinned(locust, args.client_core), cwd=REPO_ROOT, stdout=out,
                stderr=subprocess.STDOUT, timeout=args.duration + 120, check=False,
            )  # fmt: skip
        time.sleep(0.5)  # let the capture writer finish its last batch
        cpu = tree_cpu_seconds(server.pid) - cpu_before
        after = httpx.get(server.base_url + "/metrics", timeout=10).text
    finally:
        server.stop()
    answered = _metric(after, "strangler_requests_total") - _metric(
        before, "strangler_requests_total"
    )
    stats = read_stats_csv(f"{prefix}_stats.csv")[AGGREGATED]
    return Run(
        side=side,
        capture=capture,
        requests=int(answered),
        cpu_seconds=round(cpu, 3),
        rps=round(stats.rps, 1),
        failures=stats.failures,
        stored=int(_metric(after, "strangler_capture_total", result="stored")),
        dropped=int(_metric(after, "strangler_capture_total", result="dropped")),
    )


def _table(runs: list[Run]) -> str:
    lines = [
        "| side | capture | requests | server CPU ms/request | requests/s | failures | stored"
        " | dropped |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        lines.append(
            f"| {run.side} | {'rate 1' if run.capture else 'off'} | {run.requests} | "
            f"{run.cpu_ms_per_request:.3f} | {run.rps:.1f} | {run.failures} | {run.stored} | "
            f"{run.dropped} |"
        )
    for side in sorted({r.side for r in runs}):
        off = [r for r in runs if r.side == side and not r.capture and r.requests]
        on = [r for r in runs if r.side == side and r.capture and r.requests]
        if off and on:
            off_cpu = median(r.cpu_ms_per_request for r in off)
            on_cpu = median(r.cpu_ms_per_request for r in on)
            off_rps, on_rps = median(r.rps for r in off), median(r.rps for r in on)
            cpu = 100 * (on_cpu / off_cpu - 1)
            rps = 100 * (on_rps / off_rps - 1) if off_rps else float("nan")
            lines.append(
                f"\n{side}: capture costs {cpu:+.1f} % CPU per request, {rps:+.1f} % rps"
                f" (medians of {len(off)} off and {len(on)} on runs, alternated)"
            )
    return "\n".join(lines)


# Per-record cost in one process (``--micro N``) ---------------------------------------------
_UVICORN_HEADERS = (b"date", b"server", b"x-served-by", b"x-route")


def _real_answer(template: Path, folder: Path, args: argparse.Namespace) -> tuple[Any, str]:
    """Return the new app's real ``GET /api/v1/agents`` answer (as the tee sees it) and a token."""
    from proxy.shadow.capture import CapturedResponse
    from proxy.traffic.resync_replay import mint_access_token

    server = _start("new", False, template, folder, args)
    try:
        token = mint_access_token(SECRET_KEY, "operator", "operator")
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            answer = client.get("/api/v1/agents", headers={"Authorization": f"Bearer {token}"})
    finally:
        server.stop()
    headers = [(k.lower(), v) for k, v in answer.headers.raw if k.lower() not in _UVICORN_HEADERS]
    return CapturedResponse(answer.status_code, headers, answer.content), token


def _micro(args: argparse.Namespace) -> int:
    """Time (and with ``--profile``, profile) capture's own work on N real exchanges."""
    import asyncio
    import cProfile
    import pstats
    from types import SimpleNamespace

    from proxy.resync import ResyncTokenVerifier, _role
    from proxy.routing.dispatch import Dispatcher
    from proxy.traffic.policy import CapturePolicy
    from proxy.traffic.recorder import TrafficRecorder
    from proxy.traffic.store import SQLiteCaptureStore

    n = int(args.micro)
    with tempfile.TemporaryDirectory(prefix="capture-micro-") as work:
        args.port_base = int(args.port_base) + 10
        answer, token = _real_answer(_seed(Path(work)), Path(work) / "serve", args)
        policy = CapturePolicy.from_mapping({"routes": {ROUTE: {"sample_rate": 1.0}}})
        verifier = ResyncTokenVerifier(SECRET_KEY)
        recorder = TrafficRecorder(
            policy,
            SQLiteCaptureStore(Path(work) / "capture.db"),
            queue_size=n,
            role_of=lambda t: _role(verifier, t),
        )
        recorder._thread = threading.current_thread()  # no writer thread: the loop below is it
        start = {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
        body = {"type": "http.response.body", "body": answer.body, "more_body": False}

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send(dict(start))
            await send(body)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            return None

        dispatcher = Dispatcher.__new__(Dispatcher)
        dispatcher.apps = {"new": app}
        dispatcher.capture = recorder
        entry = SimpleNamespace(key=ROUTE, headers={"new": [(b"x-served-by", b"new")]})
        client_headers = [
            (b"host", b"127.0.0.1:18702"),
            (b"user-agent", b"python/gevent-http-client-1.5.5"),
            (b"accept-encoding", b"gzip, deflate"),
            (b"authorization", f"Bearer {token}".encode()),
        ]

        def scope() -> dict[str, Any]:
            return {
                "type": "http", "method": "GET", "path": "/api/v1/agents",
                "raw_path": b"/api/v1/agents", "query_string": b"",
                "headers": [*client_headers, (b"x-request-id", os.urandom(16).hex().encode())],
            }  # fmt: skip

        async def served(captured: bool, count: int = n) -> None:
            for _ in range(count):
                if captured:
                    chosen = recorder.sample(ROUTE)
                    await dispatcher._captured(scope(), receive, send, entry, "new", chosen)  # type: ignore[arg-type]
                else:
                    await app(scope(), receive, send)

        def write() -> None:
            while recorder.write_pending():
                pass

        loop = asyncio.new_event_loop()
        profile = cProfile.Profile() if args.profile else None
        costs = {}
        if args.interleave:
            # The writer drains every K requests, as the real one does every 50 ms (at 2,500
            # rps, about 125): the queue stays short, as in the server, instead of holding N.
            costs = {"plain request": 0.0, "captured request": 0.0, "writer": 0.0}
            began = time.process_time()
            loop.run_until_complete(served(False))
            costs["plain request"] = 1e6 * (time.process_time() - began) / n
            if profile is not None:  # the captured requests and the writer, as below
                profile.enable()
            for done in range(0, n, args.interleave):
                began = time.process_time()
                loop.run_until_complete(served(True, min(args.interleave, n - done)))
                costs["captured request"] += 1e6 * (time.process_time() - began) / n
                began = time.process_time()
                write()
                costs["writer"] += 1e6 * (time.process_time() - began) / n
            if profile is not None:
                profile.disable()
        for phase, work_ in (
            ()
            if args.interleave
            else (
                ("plain request", lambda: loop.run_until_complete(served(False))),
                ("captured request", lambda: loop.run_until_complete(served(True))),
                ("writer", write),
            )
        ):
            began = time.process_time()
            if profile is not None and phase != "plain request":
                profile.enable()
            work_()
            if profile is not None:
                profile.disable()
            costs[phase] = 1e6 * (time.process_time() - began) / n
        loop.close()
        stored = recorder.store.count()
        recorder.store.close()
    request_path = costs["captured request"] - costs["plain request"]
    print(f"{n} exchanges of {ROUTE} (new side, {len(answer.body)} body bytes), {stored} stored")
    print(f"request path (tee, copy, submit): {request_path:.1f} us per record")
    print(f"writer (build_capture, add_many): {costs['writer']:.1f} us per record")
    print(f"total: {request_path + costs['writer']:.1f} us per record")
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the capture benchmark; print a Markdown table (and write JSON with ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.capture_bench", description=__doc__)
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per run")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--side", choices=("legacy", "new", "both"), default="both")
    parser.add_argument(
        "--tws-url", default="http://127.0.0.1:8100/twsd", help="not called by the route"
    )
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1)
    parser.add_argument("--port-base", type=int, default=18700)
    parser.add_argument(
        "--rounds", type=int, default=1,
        help="alternate off and on runs this many times per side; the summary takes medians",
    )  # fmt: skip
    parser.add_argument("--json", dest="json_path", default=None)
    parser.add_argument(
        "--micro", type=int, default=0, metavar="N",
        help="instead: time capture's own work on N real exchanges in this process",
    )  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="with --micro: cProfile it")
    parser.add_argument(
        "--interleave", type=int, default=0, metavar="K",
        help="with --micro: write every K requests (a server-like queue) instead of after all N",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.micro:
        return _micro(args)
    sides = ("legacy", "new") if args.side == "both" else (args.side,)
    runs = []
    with tempfile.TemporaryDirectory(prefix="capture-bench-") as work:
        template = _seed(Path(work))
        for side in sides:
            for round_ in range(max(1, args.rounds)):
                for capture in (False, True):
                    folder = Path(work) / f"{side}-{capture}-{round_}"
                    run = _run(side, capture, template, folder, args)
                    print(f"{side} capture={'on' if capture else 'off'}: {run}", file=sys.stderr)
                    runs.append(run)
    print(_table(runs))
    if args.json_path:
        Path(args.json_path).write_text(
            json.dumps(
                [{**asdict(r), "cpu_ms_per_request": r.cpu_ms_per_request} for r in runs], indent=2
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
