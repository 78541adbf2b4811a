"""Serve many requests through one proxy worker and watch its memory: ``python -m loadtest.soak``.

``python -m loadtest.soak --requests 100000 --latency-ms 20`` (``make soak``):

1. seeds a template SQLite database, starts the TWS simulator on the *client* core, adds the
   bench users and issues their access tokens and an admin token on a setup server (as
   :mod:`loadtest.bench` does: the measured worker never runs argon2, whose 64 MiB per sign-in
   would show in its peak);
2. starts ``resync-strangler serve`` (one worker) pinned to the *server* core on a copy of the
   database and reads its memory once it answers;
3. runs Locust in phases of ``--phase-seconds`` (``AgentsUser`` and ``JobsUser``, a CPU-light and a
   TWS-bound route, half the users each), every route on legacy, then every route on new, and so
   on, until the worker has answered ``--requests`` requests as its own
   ``strangler_requests_total`` counts them (and at least one phase of each mode has run);
4. after each phase reads the worker's resident memory (``VmRSS``, split into ``RssAnon`` and
   ``RssFile``, and the peak ``VmHWM``) from ``/proc``;
5. prints a table and writes ``soak.json`` and ``soak.md`` into
   ``loadtest/reports/<YYYY-MM-DD>[-label]/``.

The last phase's ``VmRSS`` is the figure issue 4 sets a target for (``--target-mib``, 80); the
table also shows whether memory still grows from one phase of a mode to the next.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from loadtest.fixtures import (
    BenchUsers,
    copy_database,
    free_port,
    pin_self,
    report_folder,
    seed_template,
    start_simulator,
)
from loadtest.servers import (
    REPO_ROOT,
    Server,
    ServerError,
    pinned,
    server_command,
    server_environment,
)
from loadtest.settings import REPORTS_DIR, BenchSettings

__all__ = ["Memory", "Phase", "SoakSettings", "main", "read_memory", "run_soak"]

MODES = ("legacy", "new")
USER_CLASSES = ("AgentsUser", "JobsUser")
KIB = 1024


@dataclass(frozen=True, slots=True)
class SoakSettings:
    """Everything a soak run is parametrised by (the command-line options)."""

    requests: int = 100_000
    phase_seconds: int = 40
    users: int = 50
    latency_ms: int = 20
    legacy_threads: int = 8
    server_core: int | None = 0
    client_core: int | None = 1
    target_mib: float = 80.0
    max_phases: int = 40
    label: str = ""
    report_dir: Path = REPORTS_DIR
    work_dir: Path = REPO_ROOT / "var" / "soak"
    command: str = ""
    shape: str = "phases"  # or "mixed" (one route on each side, one in shadow)
    mixed: MixedSettings = field(default_factory=lambda: MixedSettings())


@dataclass(frozen=True, slots=True)
class Memory:
    """A process's memory from ``/proc/<pid>/status``, in MiB."""

    rss_mib: float
    anon_mib: float
    file_mib: float
    peak_mib: float
    threads: int


@dataclass(slots=True)
class Phase:
    """One phase: the mode every route was in, what the worker answered, its memory after."""

    mode: str
    seconds: float
    requests: int  # answered by the worker during this phase
    total: int  # answered since it started
    failures: int  # Locust's failed requests in this phase
    memory: Memory


@dataclass(slots=True)
class SoakResult:
    """A whole soak: settings, memory at start, the phases, the verdict."""

    settings: dict[str, object]
    started: Memory
    phases: list[Phase] = field(default_factory=list)
    error: str = ""

    @property
    def final(self) -> Memory:
        """Memory after the last phase (at start when no phase ran)."""
        return self.phases[-1].memory if self.phases else self.started

    @property
    def total(self) -> int:
        """Requests the worker answered."""
        return self.phases[-1].total if self.phases else 0


def _say(message: str) -> None:
    print(f"[soak {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def read_memory(pid: int) -> Memory:
    """Read ``VmRSS``, ``RssAnon``, ``RssFile``, ``VmHWM`` and ``Threads`` of ``pid``."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon", "RssFile", "VmHWM", "Threads"):
                fields[name] = int(value.split()[0])
    return Memory(
        rss_mib=round(fields["VmRSS"] / KIB, 1),
        anon_mib=round(fields["RssAnon"] / KIB, 1),
        file_mib=round(fields["RssFile"] / KIB, 1),
        peak_mib=round(fields["VmHWM"] / KIB, 1),
        threads=fields["Threads"],
    )


def answered(base_url: str) -> int:
    """Requests the proxy worker has answered (its ``strangler_requests_total``, all labels)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "strangler_requests"
            for sample in family.samples
            if sample.name == "strangler_requests_total"
        )
    )


def set_every_route(base_url: str, admin: dict[str, str], mode: str) -> None:
    """Put every route on ``mode`` (``legacy``: the kill switch; ``new``: a bulk change)."""
    reason = f"soak: every route on {mode}"
    with httpx.Client(base_url=base_url, headers=admin, timeout=30) as client:
        if mode == "legacy":
            response = client.post("/_strangler/kill-switch", json={"reason": reason})
        else:
            response = client.post("/_strangler/routes/bulk", json={"mode": mode, "reason": reason})
        if response.status_code != 200:
            raise ServerError(f"admin API refused {mode}: {response.status_code} {response.text}")


def _locust(settings: SoakSettings, host: str, tokens: Path, log: Path) -> int:
    """Run one Locust phase; return how many requests failed (raises if Locust did not run)."""
    prefix = log.with_suffix("")
    command = [
        sys.executable, "-m", "locust",
        "-f", str(REPO_ROOT / "loadtest" / "locustfile.py"),
        "--headless", "--only-summary",
        "--host", host,
        "--users", str(settings.users),
        "--spawn-rate", str(settings.users),
        "--run-time", f"{settings.phase_seconds}s",
        "--stop-timeout", "5",
        "--csv", str(prefix),
        "--resync-tokens-file", str(tokens),
        *USER_CLASSES,
    ]  # fmt: skip
    with log.open("wb") as out:
        subprocess.run(
            pinned(command, settings.client_core),
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=settings.phase_seconds + 120,
            check=False,
        )
    from loadtest.results import AGGREGATED, read_stats_csv

    stats_path = Path(f"{prefix}_stats.csv")
    if not stats_path.exists():
        raise ServerError(f"Locust wrote no statistics; see {log}")
    aggregated = read_stats_csv(stats_path).get(AGGREGATED)
    return aggregated.failures if aggregated is not None else 0


@dataclass
class _Bench:
    """What both soak shapes start from: folders, a seeded template and the TWS simulator."""

    work: Path
    report_dir: Path
    template: Path
    sim: subprocess.Popen[bytes]
    tws_url: str


def _prepare(settings: SoakSettings, suffix: str = "") -> _Bench:
    """Pin this runner, make the work and report folders, seed the template, start the simulator."""
    pin_self(settings.client_core)
    stamp = datetime.now(UTC)
    work = settings.work_dir / f"{stamp:%Y%m%dT%H%M%S}{suffix}"
    report_dir = report_folder(settings.report_dir, settings.label, stamp)
    report_dir.mkdir(parents=True, exist_ok=True)
    template = work / "template.db"
    template.parent.mkdir(parents=True, exist_ok=True)
    seed_template(template)
    bench = BenchSettings(latency_ms=settings.latency_ms, client_core=settings.client_core)
    sim, sim_url = start_simulator(bench, work / "tws_sim.log")
    return _Bench(work, report_dir, template, sim, f"{sim_url}/twsd")


def run_soak(settings: SoakSettings) -> tuple[SoakResult, Path]:
    """Run the soak; write ``soak.json`` and ``soak.md``; return the result and the folder."""
    prepared = _prepare(settings)
    work, report_dir, template = prepared.work, prepared.report_dir, prepared.template
    sim, tws_url = prepared.sim, prepared.tws_url
    try:
        users = BenchUsers(template, tws_url, work, settings.users, "proxy")
        tokens = users.prepare()
        admin = users.sign_in_admin()
        result = _soak(settings, work, template, tws_url, tokens, admin)
    finally:
        os.killpg(sim.pid, 15)
        sim.wait(timeout=10)
    write_soak_report(result, settings, report_dir)
    return result, report_dir


def _soak(
    settings: SoakSettings,
    work: Path,
    template: Path,
    tws_url: str,
    tokens: Path,
    admin: dict[str, str],
) -> SoakResult:
    port = free_port()
    env = server_environment(
        database_url=copy_database(template, work / "worker" / "resync.db"),
        tws_url=tws_url,
        extra={
            "STRANGLER_FLAG_STORE_URL": f"sqlite:///{work / 'worker' / 'flags.db'}",
            "STRANGLER_MISMATCH_DB": str(work / "worker" / "mismatches.db"),
            "STRANGLER_LEGACY_THREADS": str(settings.legacy_threads),
        },
    )
    command = server_command("proxy", host="127.0.0.1", port=port)
    server = Server(
        pinned(command, settings.server_core),
        env,
        f"http://127.0.0.1:{port}",
        work / "worker" / "server.log",
    )
    with server:
        started = read_memory(server.pid)
        _say(f"worker {server.pid} started: {_memory_text(started)}")
        result = SoakResult(settings=_settings_dict(settings), started=started)
        try:
            total = answered(server.base_url)
            for number in range(settings.max_phases):
                # Every mode runs at least once, however few requests were asked for.
                if total >= settings.requests and number >= len(MODES):
                    break
                mode = MODES[number % len(MODES)]
                set_every_route(server.base_url, admin, mode)
                began = time.monotonic()
                failures = _locust(
                    settings, server.base_url, tokens, work / f"phase{number + 1:02d}-{mode}.log"
                )
                seconds = time.monotonic() - began
                now = answered(server.base_url)
                memory = read_memory(server.pid)
                phase = Phase(mode, round(seconds, 1), now - total, now, failures, memory)
                result.phases.append(phase)
                total = now
                _say(
                    f"phase {number + 1} ({mode}): {phase.requests} requests, "
                    f"{failures} failed, {total} in all; {_memory_text(phase.memory)}"
                )
        except (ServerError, httpx.HTTPError, subprocess.SubprocessError, OSError) as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            _say(f"stopped: {result.error}")
    return result


def _memory_text(memory: Memory) -> str:
    return (
        f"RSS {memory.rss_mib} MiB (anon {memory.anon_mib}, file {memory.file_mib}), "
        f"peak {memory.peak_mib} MiB, {memory.threads} threads"
    )


def _settings_dict(settings: SoakSettings) -> dict[str, object]:
    values = asdict(settings)
    values["report_dir"] = str(settings.report_dir)
    values["work_dir"] = str(settings.work_dir)
    return values


def verdict(result: SoakResult, settings: SoakSettings) -> str:
    """``met``, ``missed`` or ``incomplete`` (fewer requests than asked, or an error)."""
    if result.error or result.total < settings.requests:
        return "incomplete"
    return "met" if result.final.rss_mib < settings.target_mib else "missed"


def write_soak_report(result: SoakResult, settings: SoakSettings, folder: Path) -> Path:
    """Write ``soak.json`` and ``soak.md`` into ``folder``; return the Markdown file."""
    data = {
        "settings": result.settings,
        "started": asdict(result.started),
        "phases": [asdict(phase) for phase in result.phases],
        "total": result.total,
        "final_rss_mib": result.final.rss_mib,
        "target_mib": settings.target_mib,
        "verdict": verdict(result, settings),
        "error": result.error,
    }
    (folder / "soak.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    lines = [
        f"# Memory of one proxy worker, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{settings.command or 'python -m loadtest.soak'}`",
        "",
        f"- One `resync-strangler serve` worker (legacy pool of {settings.legacy_threads} "
        f"threads) pinned to core {settings.server_core}; Locust ({settings.users} users: "
        f"{' and '.join(USER_CLASSES)}) and the TWS simulator ({settings.latency_ms} ms) on core "
        f"{settings.client_core}.",
        f"- Phases of {settings.phase_seconds} s, every route on legacy then on new, until the "
        f"worker had answered {settings.requests:,} requests (its own `strangler_requests_total`).",
        "- Memory from `/proc/<pid>/status`: RSS = anonymous + file-backed pages; peak = `VmHWM`.",
        "",
        "| after | mode | requests | in all | failed | RSS MiB | anon MiB | file MiB | peak MiB "
        "| threads |",
        "|---|---|---|---|---|---|---|---|---|---|",
        _row("start", "", 0, 0, 0, result.started),
    ]
    for number, phase in enumerate(result.phases, start=1):
        lines.append(
            _row(
                f"phase {number}",
                phase.mode,
                phase.requests,
                phase.total,
                phase.failures,
                phase.memory,
            )
        )
    lines += [
        "",
        f"Resident memory after {result.total:,} requests: **{result.final.rss_mib} MiB** "
        f"(target: under {settings.target_mib:g} MiB): {verdict(result, settings)}.",
    ]
    if result.error:
        lines += ["", f"Stopped early: {result.error}"]
    path = folder / "soak.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _row(label: str, mode: str, requests: int, total: int, failed: int, memory: Memory) -> str:
    return (
        f"| {label} | {mode} | {requests:,} | {total:,} | {failed} | {memory.rss_mib} | "
        f"{memory.anon_mib} | {memory.file_mib} | {memory.peak_mib} | {memory.threads} |"
    )


# -- the mixed shape: one route on each side and one in shadow, at a share of capacity ---------

#: (route key, request path, the side the answer must come from) of the mixed soak.
MIXED_ROUTES = (
    ("GET /api/v1/agents", "/api/v1/agents", "new"),
    ("GET /api/v1/status/jobs", "/api/v1/status/jobs", "legacy"),
    ("GET /api/v1/agents/{agent_id}", "/api/v1/agents/tws-general", "legacy"),  # shadowed
)
MIXED_MODES = {"GET /api/v1/agents": "new", "GET /api/v1/agents/{agent_id}": "shadow"}


@dataclass(frozen=True, slots=True)
class MixedSettings:
    """The mixed soak's options (``--shape mixed``)."""

    duration_seconds: int = 600
    warmup_seconds: int = 60
    capacity_seconds: int = 20
    share: float = 0.7
    clients: int = 32
    sample_seconds: float = 10.0
    max_growth_pct: float = 5.0


@dataclass(slots=True)
class LoadCounts:
    """What the load generator saw: requests, failures by reason, answers by route and side."""

    requests: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    routes: dict[str, int] = field(default_factory=dict)

    def record(self, route: str, failure: str) -> None:
        self.requests += 1
        self.routes[route] = self.routes.get(route, 0) + 1
        if failure:
            self.failed += 1
            self.failures[failure] = self.failures.get(failure, 0) + 1


@dataclass(slots=True)
class MixedResult:
    """A mixed soak: capacity, the rate held, the counts, memory over time, the verdict."""

    settings: dict[str, object]
    capacity_rps: float = 0.0
    target_rps: float = 0.0
    achieved_rps: float = 0.0
    counts: LoadCounts = field(default_factory=LoadCounts)
    capacity_counts: LoadCounts = field(default_factory=LoadCounts)
    memory: list[tuple[float, Memory]] = field(default_factory=list)  # (seconds in, memory)
    baseline: Memory | None = None
    shadow: dict[str, float] = field(default_factory=dict)
    error: str = ""

    @property
    def growth_pct(self) -> float | None:
        """RSS growth from the end of warm-up to the end, in percent."""
        if self.baseline is None or not self.memory:
            return None
        final = self.memory[-1][1].rss_mib
        return round((final - self.baseline.rss_mib) / self.baseline.rss_mib * 100, 2)

    def verdict(self, mixed: MixedSettings) -> str:
        growth = self.growth_pct
        if self.error or growth is None or self.counts.requests == 0:
            return "incomplete"
        ok = self.counts.failed == 0 and growth <= mixed.max_growth_pct
        return "met" if ok else "missed"


async def _mixed_client(
    http: httpx.AsyncClient,
    tokens: list[str],
    counts: LoadCounts,
    stop: asyncio.Event,
    interval: float,
    offset: int,
) -> None:
    """Send the three routes in turn; ``interval`` > 0 paces it (constant throughput)."""
    number = offset
    while not stop.is_set():
        began = time.monotonic()
        key, path, side = MIXED_ROUTES[number % len(MIXED_ROUTES)]
        token = tokens[number % len(tokens)]
        number += 1
        try:
            response = await http.get(path, headers={"Authorization": f"Bearer {token}"})
            if response.status_code != 200:
                failure = f"{key}: {response.status_code}"
            elif response.headers.get("x-served-by") != side:
                failure = f"{key}: served by {response.headers.get('x-served-by')}"
            else:
                failure = ""
        except httpx.HTTPError as exc:
            failure = f"{key}: {type(exc).__name__}"
        counts.record(key, failure)
        if interval > 0:
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - began)))


async def _load(
    base_url: str, tokens: list[str], clients: int, seconds: float, rate: float | None
) -> tuple[LoadCounts, float]:
    """Run ``clients`` clients for ``seconds`` (as fast as answered, or at ``rate`` in all)."""
    counts = LoadCounts()
    stop = asyncio.Event()
    interval = clients / rate if rate else 0.0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        began = time.monotonic()
        tasks = [
            asyncio.create_task(_mixed_client(http, tokens, counts, stop, interval, n))
            for n in range(clients)
        ]
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - began
    return counts, elapsed


def _read_tokens(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split("\t", 1)[1] for line in lines if "\t" in line]


def set_mixed_routes(base_url: str, admin: dict[str, str]) -> None:
    """Every route on legacy, then agents on new and the agent detail in shadow."""
    set_every_route(base_url, admin, "legacy")
    with httpx.Client(base_url=base_url, headers=admin, timeout=30) as client:
        for route, mode in MIXED_MODES.items():
            body = {"route": route, "mode": mode, "reason": f"soak: {route} on {mode}"}
            response = client.post("/_strangler/routes", json=body)
            if response.status_code != 200:
                raise ServerError(f"admin API refused {route} {mode}: {response.text}")


def shadow_counts(base_url: str) -> dict[str, float]:
    """The worker's ``strangler_shadow_total`` by result, summed over routes."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "strangler_shadow":
            for sample in family.samples:
                if sample.name == "strangler_shadow_total":
                    result = sample.labels.get("result", "")
                    counts[result] = counts.get(result, 0) + sample.value
    return counts


async def _soak_mixed_load(
    server: Server, tokens: list[str], settings: SoakSettings, result: MixedResult
) -> None:
    mixed = settings.mixed
    # Capacity: the clients as fast as the worker answers.
    counts, elapsed = await _load(
        server.base_url, tokens, mixed.clients, mixed.capacity_seconds, None
    )
    result.capacity_counts = counts
    result.capacity_rps = round(counts.requests / elapsed, 1)
    result.target_rps = round(result.capacity_rps * mixed.share, 1)
    _say(f"capacity {result.capacity_rps} req/s; soaking at {result.target_rps} req/s")
    started = time.monotonic()
    load = asyncio.create_task(
        _load(server.base_url, tokens, mixed.clients, mixed.duration_seconds, result.target_rps)
    )
    while not load.done():
        await asyncio.wait({load}, timeout=mixed.sample_seconds)
        seconds = round(time.monotonic() - started, 1)
        memory = read_memory(server.pid)
        result.memory.append((seconds, memory))
        if result.baseline is None and seconds >= mixed.warmup_seconds:
            result.baseline = memory
            _say(f"after warm-up ({seconds} s): {_memory_text(memory)}")
    result.counts, elapsed = load.result()
    result.achieved_rps = round(result.counts.requests / elapsed, 1)


def run_mixed(settings: SoakSettings) -> tuple[MixedResult, Path]:
    """The mixed soak end to end; writes ``soak-mixed.json`` and ``soak-mixed.md``."""
    prepared = _prepare(settings, "-mixed")
    work, report_dir, template = prepared.work, prepared.report_dir, prepared.template
    sim, tws_url = prepared.sim, prepared.tws_url
    result = MixedResult(settings=_settings_dict(settings))
    try:
        users = BenchUsers(template, tws_url, work, settings.users, "proxy")
        tokens = _read_tokens(users.prepare())
        admin = users.sign_in_admin()
        port = free_port()
        env = server_environment(
            database_url=copy_database(template, work / "worker" / "resync.db"),
            tws_url=tws_url,
            extra={
                "STRANGLER_FLAG_STORE_URL": f"sqlite:///{work / 'worker' / 'flags.db'}",
                "STRANGLER_MISMATCH_DB": str(work / "worker" / "mismatches.db"),
                "STRANGLER_LEGACY_THREADS": str(settings.legacy_threads),
                "STRANGLER_ACCESS_LOG": "false",
            },
        )
        command = server_command("proxy", host="127.0.0.1", port=port)
        server = Server(
            pinned(command, settings.server_core),
            env,
            f"http://127.0.0.1:{port}",
            work / "worker" / "server.log",
        )
        with server:
            try:
                set_mixed_routes(server.base_url, admin)
                asyncio.run(_soak_mixed_load(server, tokens, settings, result))
                result.shadow = shadow_counts(server.base_url)
            except (ServerError, httpx.HTTPError, OSError) as exc:
                result.error = f"{type(exc).__name__}: {exc}"
                _say(f"stopped: {result.error}")
    except (ServerError, httpx.HTTPError, subprocess.SubprocessError, OSError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        os.killpg(sim.pid, 15)
        sim.wait(timeout=10)
    write_mixed_report(result, settings, report_dir)
    return result, report_dir


def write_mixed_report(result: MixedResult, settings: SoakSettings, folder: Path) -> Path:
    """Write ``soak-mixed.json`` and ``soak-mixed.md`` into ``folder``; return the Markdown."""
    mixed = settings.mixed
    data = {
        "shape": "mixed",
        "settings": result.settings,
        "routes": {key: MIXED_MODES.get(key, "legacy") for key, _, _ in MIXED_ROUTES},
        "capacity_rps": result.capacity_rps,
        "target_rps": result.target_rps,
        "achieved_rps": result.achieved_rps,
        "requests": result.counts.requests,
        "failed": result.counts.failed,
        "failures": result.counts.failures,
        "by_route": result.counts.routes,
        "capacity_requests": result.capacity_counts.requests,
        "capacity_failed": result.capacity_counts.failed,
        "shadow": result.shadow,
        "baseline_rss_mib": result.baseline.rss_mib if result.baseline else None,
        "final_rss_mib": result.memory[-1][1].rss_mib if result.memory else None,
        "growth_pct": result.growth_pct,
        "max_growth_pct": mixed.max_growth_pct,
        "memory": [{"seconds": s, **asdict(m)} for s, m in result.memory],
        "verdict": result.verdict(mixed),
        "error": result.error,
    }
    (folder / "soak-mixed.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    lines = [
        f"# Mixed soak through one proxy worker, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{settings.command or 'python -m loadtest.soak --shape mixed'}`",
        "",
        f"- One `resync-strangler serve` worker (legacy pool of {settings.legacy_threads} "
        f"threads); `GET /api/v1/agents` on new, `GET /api/v1/status/jobs` on legacy (TWS "
        f"simulator at {settings.latency_ms} ms), `GET /api/v1/agents/{{agent_id}}` in shadow; "
        f"{mixed.clients} clients send the three in turn.",
        f"- Capacity: {mixed.capacity_seconds} s as fast as answered: "
        f"**{result.capacity_rps} req/s**. Soak: {mixed.duration_seconds} s at "
        f"{mixed.share:.0%} of it ({result.target_rps} req/s; held {result.achieved_rps}).",
        f"- Memory (`VmRSS`) every {mixed.sample_seconds:g} s; growth measured from the end "
        f"of a {mixed.warmup_seconds} s warm-up.",
        "",
        "| requests | failed | RSS after warm-up MiB | RSS at end MiB | growth | target "
        "| verdict |",
        "|---|---|---|---|---|---|---|",
        f"| {result.counts.requests:,} | {result.counts.failed} | {data['baseline_rss_mib']} | "
        f"{data['final_rss_mib']} | {result.growth_pct} % | 0 failed, <= "
        f"{mixed.max_growth_pct:g} % | {data['verdict']} |",
        "",
        f"By route: {result.counts.routes}; shadow comparisons: {result.shadow}.",
    ]
    if result.counts.failures:
        lines += ["", f"Failures: {result.counts.failures}"]
    if result.error:
        lines += ["", f"Stopped early: {result.error}"]
    path = folder / "soak-mixed.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _parse(argv: Sequence[str] | None) -> SoakSettings:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.soak",
        description="Load one proxy worker until it has answered N requests; report its memory.",
    )
    parser.add_argument("--requests", type=int, default=100_000, help="requests (100000)")
    parser.add_argument("--phase-seconds", type=int, default=40, help="seconds a phase (40)")
    parser.add_argument("--users", type=int, default=50, help="Locust users (50)")
    parser.add_argument("--latency-ms", type=int, default=20, help="TWS simulator latency (20)")
    parser.add_argument("--legacy-threads", type=int, default=8, help="a2wsgi threads (8)")
    parser.add_argument("--server-core", type=int, default=0, help="core of the worker (0)")
    parser.add_argument("--client-core", type=int, default=1, help="core of the load (1)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin anything")
    parser.add_argument("--target-mib", type=float, default=80.0, help="RSS target (80)")
    parser.add_argument("--max-phases", type=int, default=40, help="stop after this many (40)")
    parser.add_argument("--label", default="", help="report folder <date>-<label>")
    parser.add_argument("--report-dir", type=Path, default=REPORTS_DIR)
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / "var" / "soak")
    parser.add_argument(
        "--shape",
        choices=("phases", "mixed"),
        default="phases",
        help="phases: every route on legacy, then new (memory per phase); mixed: one route on "
        "each side and one in shadow at --share of measured capacity for --duration-seconds",
    )
    parser.add_argument("--duration-seconds", type=int, default=600, help="mixed: soak (600)")
    parser.add_argument("--warmup-seconds", type=int, default=60, help="mixed: warm-up (60)")
    parser.add_argument("--capacity-seconds", type=int, default=20, help="mixed: capacity (20)")
    parser.add_argument("--share", type=float, default=0.7, help="mixed: share of capacity (0.7)")
    parser.add_argument("--clients", type=int, default=32, help="mixed: load clients (32)")
    parser.add_argument("--sample-seconds", type=float, default=10.0, help="mixed: RSS every")
    parser.add_argument(
        "--short",
        action="store_true",
        help="mixed: about 20 s in all (5 s capacity, 15 s soak, 5 s warm-up), 4 users",
    )
    args = parser.parse_args(argv)
    if args.short:
        args.duration_seconds, args.warmup_seconds, args.capacity_seconds = 15, 5, 5
        args.sample_seconds, args.users, args.clients = 2.0, 4, 8
    if not 0 < args.share <= 1:
        parser.error("--share must be in (0, 1]")
    for name in ("duration_seconds", "capacity_seconds", "clients"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.sample_seconds <= 0 or args.warmup_seconds < 0:
        parser.error("--sample-seconds must be positive and --warmup-seconds not negative")
    for name in ("requests", "phase_seconds", "users", "legacy_threads", "max_phases"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return SoakSettings(
        requests=args.requests,
        phase_seconds=args.phase_seconds,
        users=args.users,
        latency_ms=args.latency_ms,
        legacy_threads=args.legacy_threads,
        server_core=None if args.no_pin else args.server_core,
        client_core=None if args.no_pin else args.client_core,
        target_mib=args.target_mib,
        max_phases=args.max_phases,
        label=args.label,
        report_dir=args.report_dir,
        work_dir=args.work_dir,
        command=shlex.join(["python", "-m", "loadtest.soak", *(argv or sys.argv[1:])]),
        shape=args.shape,
        mixed=MixedSettings(
            duration_seconds=args.duration_seconds,
            warmup_seconds=min(args.warmup_seconds, args.duration_seconds),
            capacity_seconds=args.capacity_seconds,
            share=args.share,
            clients=args.clients,
            sample_seconds=args.sample_seconds,
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; exit 0 when it answered every request asked, 1 when it stopped early."""
    settings = _parse(argv)
    if settings.shape == "mixed":
        mixed, folder = run_mixed(settings)
        print((folder / "soak-mixed.md").read_text(encoding="utf-8"))
        return 1 if mixed.verdict(settings.mixed) == "incomplete" else 0
    result, folder = run_soak(settings)
    print((folder / "soak.md").read_text(encoding="utf-8"))
    return 1 if verdict(result, settings) == "incomplete" else 0


if __name__ == "__main__":
    raise SystemExit(main())
