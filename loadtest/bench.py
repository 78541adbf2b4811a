"""Benchmark every way of serving the Resync API on one pinned core; write a dated report.

``python -m loadtest.bench`` (``make bench``, about 30 minutes at the defaults):

1. for each database (``--databases``: SQLite files, and PostgreSQL databases the bench creates
   on 127.0.0.1:5432 and drops afterwards) seeds a template (``migrations``) and adds a pool of
   bench users through the API, so each simulated user signs in as someone else (a canary keys
   on the token's subject);
2. starts the TWS simulator, pinned to the *client* core with Locust;
3. for each scenario (``agents``: authenticated ``GET /api/v1/agents``; ``jobs``:
   ``GET /api/v1/status/jobs``, one TWS call each; ``operator``: the weighted tasks of
   ``ResyncOperator`` over every resource, without think time) and each system (legacy under
   gunicorn, the proxy all-legacy, FastAPI under uvicorn, the proxy all-new, the proxy at canary
   50 %, the proxy shadowing the measured route) starts the server pinned to the *server* core on
   a fresh copy of the database, runs Locust headless (fixed users and duration, the ramp and a
   warm-up excluded by ``--warmup-seconds``), samples the server tree's RSS and CPU, Locust's and
   the simulator's CPU during the measured window, then stops it;
4. the latency sweep (``--sweep``, ``loadtest/sweep.py``): ``jobs`` at each TWS latency on Flask
   with the same threads, Flask with threads sized to the latency, and FastAPI;
5. the burst (``--burst``, ``loadtest/burst.py``): 240 concurrent ``jobs`` requests with TWS
   hanging past ``RESYNC_TWS_TIMEOUT``, on each app and database;
6. writes ``loadtest/reports/<YYYY-MM-DD>/report.md`` (tables, the migration judged against its
   promise with causes, the sweep and burst tables, the proxy overhead ratios, charts) beside
   ``results.json`` and Locust's CSVs, and prints the tables.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from loadtest.burst import (
    BurstResult,
    count_pool_timeouts,
    fire_burst,
    server_seconds,
    summarise,
)
from loadtest.common.markers import TARGET_MISSED, WARMUP_OVER
from loadtest.databases import (
    DATABASE_KINDS,
    DEFAULT_POSTGRES_URL,
    BenchDatabase,
    open_database,
)
from loadtest.fixtures import (
    ADMIN_PASSWORD,
    BenchUsers,
    free_port,
    pin_self,
    report_folder,
    sign_in,
    start_simulator,
)
from loadtest.promise import cpu_ms_per_request
from loadtest.report import TABLE_END, write_report
from loadtest.results import AGGREGATED, RunResult, read_failures_csv, read_stats_csv
from loadtest.servers import (
    REPO_ROOT,
    Server,
    ServerError,
    pinned,
    server_command,
    server_environment,
)
from loadtest.settings import (
    BURST_APPS,
    REPORTS_DIR,
    SCENARIOS,
    SWEEP_SYSTEMS,
    SYSTEMS,
    BenchSettings,
    Scenario,
    System,
)
from loadtest.sweep import SWEEP_LATENCIES, sized_threads
from loadtest.usage import UsageSampler, tree_cpu_seconds

__all__ = ["main", "run_bench"]

TARGETS_DIR = REPO_ROOT / "loadtest" / "targets"


def _say(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def set_simulator(sim_url: str, **values: float) -> None:
    """Change the simulator's latency or faults (``PUT /_control``, docs/tws_sim.md)."""
    httpx.put(f"{sim_url}/_control", json=values, timeout=10).raise_for_status()


def targets_file(scenario: str, system: str) -> Path | None:
    """The targets for one run: ``<scenario>-<system>.toml``, else ``<scenario>.toml``."""
    for name in (f"{scenario}-{system}.toml", f"{scenario}.toml"):
        if (TARGETS_DIR / name).exists():
            return TARGETS_DIR / name
    return None


# -- the proxy's flags -------------------------------------------------------------------------


def configure_proxy(base_url: str, system: System, scenario: Scenario) -> None:
    """Set the proxy's flags for ``system`` through its admin API and check they took."""
    admin = sign_in(base_url, "admin", ADMIN_PASSWORD)
    reason = f"bench: {system.name} / {scenario.name}"
    with httpx.Client(base_url=base_url, headers=admin, timeout=30) as client:
        if system.proxy_mode == "legacy":
            response = client.post("/_strangler/kill-switch", json={"reason": reason})
        elif system.proxy_mode in ("new", "canary"):
            body: dict[str, object] = {"mode": system.proxy_mode, "reason": reason}
            if system.proxy_mode == "canary":
                body["percent"] = system.percent
            response = client.post("/_strangler/routes/bulk", json=body)
        elif system.proxy_mode == "shadow":
            body = {"route": scenario.route, "mode": "shadow", "reason": reason}
            response = client.post("/_strangler/routes", json=body)
        else:
            raise ValueError(f"{system.name} has no proxy mode")
        if response.status_code != 200:
            refused = f"{response.status_code} {response.text[:300]}"
            raise ServerError(f"admin API refused {system.proxy_mode}: {refused}")
        routes = client.get("/_strangler/routes").json()["routes"]
    mode = next((r["mode"] for r in routes if r["route"] == scenario.route), None)
    if mode != system.proxy_mode:
        raise ServerError(f"{scenario.route} is in mode {mode!r}, expected {system.proxy_mode!r}")


def proxy_notes(base_url: str, system: System, scenario: Scenario) -> list[str]:
    """Read the proxy's /metrics and /_strangler/stats: sides, shadow outcomes, latency."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = httpx.get(f"{base_url}/metrics", timeout=10).text
    except httpx.HTTPError as exc:
        return [f"/metrics unreadable: {exc}"]
    by_side: dict[str, float] = {}
    shadow: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("route") != scenario.route or not sample.name.endswith("_total"):
                continue
            if family.name == "strangler_requests":
                side = sample.labels.get("side", "?")
                by_side[side] = by_side.get(side, 0) + sample.value
            elif family.name == "strangler_shadow":
                result = sample.labels.get("result", "?")
                shadow[result] = shadow.get(result, 0) + sample.value
    notes = []
    total = sum(by_side.values())
    if total:
        split = ", ".join(f"{side} {count / total:.0%}" for side, count in sorted(by_side.items()))
        notes.append(f"served by (whole run incl. warm-up, {total:.0f} requests): {split}")
    if shadow:
        notes.append("shadow: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(shadow.items())))
    notes.extend(_side_latency(base_url, scenario))
    return notes


def _side_latency(base_url: str, scenario: Scenario) -> list[str]:
    """Per-side latency from the proxy's own rolling window (``GET /_strangler/stats``).

    The proxy times each side from dispatch to its last byte, so this splits what Locust
    reports under one request name, without the queueing before the proxy picked it up.
    """
    try:
        admin = sign_in(base_url, "admin", ADMIN_PASSWORD)
        body = httpx.get(f"{base_url}/_strangler/stats", headers=admin, timeout=10).json()
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return [f"/_strangler/stats unreadable: {exc}"]
    sides = body.get("routes", {}).get(scenario.route, {})
    parts = [
        f"{side} {numbers['requests']} requests, p95 {numbers['p95_ms']:.0f} ms"
        for side, numbers in sorted(sides.items())
        if isinstance(numbers, dict) and "p95_ms" in numbers
    ]
    if not parts:
        return []
    window = body.get("window_seconds", "?")
    return [f"per side, as the proxy timed them (its last {window} s): " + "; ".join(parts)]


# -- one run -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunPlan:
    """One Locust run: who serves, on which database, at what latency, with how many users."""

    system: System
    scenario: Scenario
    database: BenchDatabase
    latency_ms: int
    users: int
    duration: int
    threads: int  # gunicorn's threads, and the proxy's legacy pool
    sweep: bool = False

    @property
    def name(self) -> str:
        """The run's folder and CSV prefix: ``jobs-gunicorn``, ``sweep100-jobs-uvicorn``."""
        prefix = f"sweep{self.latency_ms}-" if self.sweep else ""
        return f"{self.database.kind}-{prefix}{self.scenario.name}-{self.system.name}"


def _locust_command(
    settings: BenchSettings,
    plan: RunPlan,
    host: str,
    prefix: Path,
    targets: Path | None,
    tokens: Path,
) -> list[str]:
    command = [
        sys.executable, "-m", "locust",
        "-f", str(REPO_ROOT / "loadtest" / "locustfile.py"),
        "--headless", "--only-summary",
        "--host", host,
        "--users", str(plan.users),
        "--spawn-rate", str(settings.spawn_rate),
        "--run-time", f"{settings.run_time_for(plan.users, plan.duration)}s",
        "--stop-timeout", "5",
        "--warmup-seconds", str(settings.warmup),
        "--csv", str(prefix),
        "--resync-tokens-file", str(tokens),
        *plan.scenario.locust_args,
    ]  # fmt: skip
    if settings.html:
        command += ["--html", f"{prefix}.html"]
    if targets is not None:
        command += ["--targets", str(targets)]
    return pinned([*command, plan.scenario.user_class], settings.client_core)


def _follow(
    process: subprocess.Popen[str], log_path: Path, sampler: UsageSampler, missed: list[str]
) -> None:
    """Copy Locust's output to its log; start usage sampling when the warm-up is over."""
    assert process.stdout is not None
    with log_path.open("a", encoding="utf-8") as log:
        for line in process.stdout:
            log.write(line)
            if WARMUP_OVER in line:
                sampler.recording.set()
            if TARGET_MISSED in line:
                missed.append(line.split(TARGET_MISSED, 1)[1].strip())


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _server_seconds(server: Server, route: str) -> list[float] | None:
    """The server's logged seconds per request of ``route`` (\"GET /path\"); None: no log."""
    try:
        text = server.log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return server_seconds(text, route.split(" ", 1)[-1])


def _pool_timeouts(server: Server) -> int:
    try:
        return count_pool_timeouts(server.log_path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return 0


def _server_for(
    settings: BenchSettings, plan: RunPlan, database_url: str, tws_url: str, work: Path,
    extra: dict[str, str] | None = None,
) -> Server:  # fmt: skip
    port = free_port()
    env = server_environment(
        database_url=database_url,
        tws_url=tws_url,
        extra={
            "RESYNC_LOG_LEVEL": settings.log_level,
            "STRANGLER_FLAG_STORE_URL": f"sqlite:///{work / 'flags.db'}",
            # the proxy runs the legacy app in as many threads as gunicorn gives it
            "STRANGLER_LEGACY_THREADS": str(plan.threads),
            **(extra or {}),
        },
    )
    command = server_command(
        plan.system.kind, host="127.0.0.1", port=port, legacy_threads=plan.threads
    )
    return Server(
        pinned(command, settings.server_core), env, f"http://127.0.0.1:{port}", work / "server.log"
    )


def run_one(
    settings: BenchSettings,
    plan: RunPlan,
    tws_url: str,
    run_dir: Path,
    csv_dir: Path,
    tokens: Path,
    sim_pid: int | None = None,
) -> RunResult:
    """Serve, load, measure and stop one planned run."""
    system, scenario = plan.system, plan.scenario
    result = RunResult(
        system=system.name,
        scenario=scenario.name,
        database=plan.database.kind,
        latency_ms=plan.latency_ms,
        threads=plan.threads if system.kind != "uvicorn" else None,
        users=plan.users,
        sweep=plan.sweep,
    )
    work = run_dir / plan.name
    work.mkdir(parents=True, exist_ok=True)
    try:
        database_url = plan.database.copy(work)
    except (
        Exception
    ) as exc:  # a database that cannot be copied is this run's error, not the bench's
        result.error = f"copying the database: {type(exc).__name__}: {exc}"
        return result
    try:
        server = _server_for(settings, plan, database_url, tws_url, work)
    except ServerError as exc:
        plan.database.drop(database_url)
        result.error = str(exc)
        return result
    targets = None if plan.sweep else targets_file(scenario.name, system.name)
    result.targets = str(targets.relative_to(REPO_ROOT)) if targets else ""
    prefix = csv_dir / plan.name
    run_time = settings.run_time_for(plan.users, plan.duration)
    try:
        server.start()
        if system.proxy_mode:
            configure_proxy(server.base_url, system, scenario)
        sampler = UsageSampler(server.pid).start()
        # Locust is a child we wait for: its CPU shows in RUSAGE_CHILDREN once it has exited.
        children_cpu, started = _children_cpu_seconds(), time.monotonic()
        process = subprocess.Popen(
            _locust_command(settings, plan, server.base_url, prefix, targets, tokens),
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        # the client core's two tenants, sampled over the same measured window as the server
        client_samplers = [UsageSampler(pid) for pid in (process.pid, sim_pid) if pid]
        for client in client_samplers:
            client.recording = sampler.recording
            client.start()
        follower = threading.Thread(
            target=_follow, args=(process, work / "locust.log", sampler, result.missed)
        )
        follower.start()
        try:
            result.exit_code = process.wait(timeout=run_time + 120)
        finally:
            # stop the client samplers first: the Locust process is gone once it is reaped
            client_usage = [client.stop() for client in client_samplers]
            if process.poll() is None:
                process.kill()
            follower.join(timeout=10)
            result.usage = sampler.stop()
            result.load_avg = os.getloadavg()[0]
            result.client_cpu = (_children_cpu_seconds() - children_cpu) / (
                time.monotonic() - started
            )
        if client_usage and client_usage[0].samples > 1:
            result.locust_cpu = client_usage[0].cpu_share
        if len(client_usage) > 1 and client_usage[1].samples > 1:
            result.sim_cpu = client_usage[1].cpu_share
        if system.kind == "proxy" and system.proxy_mode in ("canary", "shadow"):
            result.notes.extend(proxy_notes(server.base_url, system, scenario))
        stats_path = Path(f"{prefix}_stats.csv")
        if not stats_path.exists():
            result.error = (
                f"Locust wrote no statistics (exit {result.exit_code}); see {work / 'locust.log'}"
            )
            return result
        result.stats = read_stats_csv(stats_path).get(AGGREGATED)
        result.failure_kinds = read_failures_csv(f"{prefix}_failures.csv")
        if result.usage is not None and result.usage.samples == 0:
            result.notes.append("no usage samples: the warm-up never ended")
    except (ServerError, httpx.HTTPError, subprocess.SubprocessError, OSError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        server.stop()
        result.pool_timeouts = _pool_timeouts(server)
        plan.database.drop(database_url)
    return result


def _progress(result: RunResult) -> str:
    where = f"{result.database:>10} {result.scenario:>8} {result.system:<15}"
    if result.sweep:
        where += f" TWS {result.latency_ms:g} ms"
    if result.error.startswith("skipped"):
        return f"{where} {result.error}"
    if not result.ok:
        reason = result.error.splitlines()[0] if result.error else "no statistics"
        return f"{where} FAILED: {reason}"
    assert result.stats is not None and result.usage is not None
    stats = result.stats
    locust = "-" if result.locust_cpu is None else f"{result.locust_cpu:.0%}"
    return (
        f"{where} {stats.rps:8.1f} rps  p50 {stats.p50_ms:5.0f}  "
        f"p95 {stats.p95_ms:5.0f}  p99 {stats.p99_ms:5.0f} ms  failures {stats.failures}  "
        f"RSS peak {result.usage.peak_mib:6.1f} MiB  CPU {result.usage.cpu_share:4.0%}  "
        f"Locust {locust}  targets {'met' if not result.missed else 'MISSED'}"
    )


# -- the sweep and the burst -------------------------------------------------------------------


@dataclass
class BenchContext:
    """What every phase of one database's bench shares."""

    settings: BenchSettings
    database: BenchDatabase
    users: BenchUsers
    sim_url: str
    sim_pid: int
    work: Path
    csv_dir: Path

    @property
    def tws_url(self) -> str:
        """The simulator's TWS API, as the servers' ``RESYNC_TWS_URL``."""
        return f"{self.sim_url}/twsd"

    def run(self, plan: RunPlan) -> RunResult:
        """One run with fresh tokens; print its line."""
        tokens = self.users.fresh()
        run_time = self.settings.run_time_for(plan.users, plan.duration)
        where = f"TWS {plan.latency_ms} ms" if plan.sweep else ""
        if plan.sweep and plan.system.kind == "gunicorn":
            where += f", {plan.threads} threads"
        _say(f"{plan.name} on {plan.system.label} {where}: {run_time} s ...")
        result = run_one(
            self.settings, plan, self.tws_url, self.work, self.csv_dir, tokens, self.sim_pid
        )
        _say(_progress(result))
        return result


def run_main(context: BenchContext) -> list[RunResult]:
    """Every (scenario, system) pair at the bench's latency."""
    settings = context.settings
    set_simulator(context.sim_url, latency_ms=settings.latency_ms)
    results = []
    for scenario_name in settings.scenarios:
        for system_name in settings.systems:
            plan = RunPlan(
                SYSTEMS[system_name], SCENARIOS[scenario_name], context.database,
                settings.latency_ms, settings.users, settings.duration, settings.legacy_threads,
            )  # fmt: skip
            results.append(context.run(plan))
    return results


def run_sweep(context: BenchContext) -> list[RunResult]:
    """``jobs`` at each sweep latency on Flask (same threads, sized threads) and FastAPI."""
    settings = context.settings
    jobs = SCENARIOS["jobs"]
    results: list[RunResult] = []
    try:
        for latency in settings.sweep:
            set_simulator(context.sim_url, latency_ms=latency)

            def plan(system: str, threads: int, latency: int = latency) -> RunPlan:
                return RunPlan(
                    SWEEP_SYSTEMS[system], jobs, context.database, latency,
                    settings.sweep_users, settings.sweep_duration, threads, sweep=True,
                )  # fmt: skip

            same = context.run(plan("gunicorn", settings.legacy_threads))
            results.append(same)
            cpu_ms = cpu_ms_per_request(same) if same.ok else None
            threads = sized_threads(
                latency, cpu_ms, floor=settings.legacy_threads, users=settings.sweep_users
            )
            if threads == settings.legacy_threads:
                skipped = RunResult(
                    "gunicorn-sized", "jobs", database=context.database.kind, latency_ms=latency,
                    threads=threads, users=settings.sweep_users, sweep=True,
                    error=f"skipped: Little's law sizes {threads} threads, the same run",
                )  # fmt: skip
                _say(_progress(skipped))
                results.append(skipped)
            else:
                results.append(context.run(plan("gunicorn-sized", threads)))
            results.append(context.run(plan("uvicorn", settings.legacy_threads)))
    finally:
        set_simulator(context.sim_url, latency_ms=settings.latency_ms)
    return results


def run_burst(context: BenchContext, app: str) -> BurstResult:
    """One burst on ``app`` (gunicorn or uvicorn): TWS hangs, N requests at once, a probe."""
    settings = context.settings
    result = BurstResult(
        app=app,
        database=context.database.kind,
        requests=settings.burst_requests,
        tws_timeout_s=settings.burst_timeout,
        hang_s=settings.burst_hang,
        client_timeout_s=settings.burst_client_timeout,
        threads=settings.legacy_threads if app == "gunicorn" else None,
    )
    plan = RunPlan(
        SYSTEMS[app], SCENARIOS["jobs"], context.database, 0, settings.burst_requests, 0,
        settings.legacy_threads,
    )  # fmt: skip
    work = context.work / f"{context.database.kind}-burst-{app}"
    work.mkdir(parents=True, exist_ok=True)
    tokens_path = context.users.fresh()
    tokens = [
        line.split("\t", 1)[1]
        for line in tokens_path.read_text(encoding="utf-8").splitlines()
        if "\t" in line
    ]
    database_url = ""
    server: Server | None = None
    _say(f"burst of {settings.burst_requests} on {app} ({context.database.kind}), TWS hanging")
    try:
        database_url = context.database.copy(work)
        server = _server_for(
            settings, plan, database_url, context.tws_url, work,
            extra={"RESYNC_TWS_TIMEOUT": f"{settings.burst_timeout:g}"},
        )  # fmt: skip
        server.start()
        set_simulator(context.sim_url, timeout_rate=1.0, timeout_seconds=settings.burst_hang)
        cpu_before = tree_cpu_seconds(server.pid)
        shots, probes = fire_burst(
            server.base_url,
            tokens,
            requests=settings.burst_requests,
            client_timeout=settings.burst_client_timeout,
        )
        result.server_cpu_s = tree_cpu_seconds(server.pid) - cpu_before
        server.stop()  # flushes its log: the server's own times of each answer
        summarise(result, shots, probes, _server_seconds(server, result.route))
    except Exception as exc:  # the burst's failure is its result's error, the bench goes on
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        set_simulator(context.sim_url, timeout_rate=0.0, latency_ms=settings.latency_ms)
        if server is not None:
            server.stop()
            result.pool_timeouts = _pool_timeouts(server)
        if database_url:
            context.database.drop(database_url)
    _say(
        f"burst on {app} ({context.database.kind}): {result.status_text() or result.error}; "
        f"slowest {result.slowest_s:.2f} s; probes {result.probes_ok}/{result.probes} 200, "
        f"slowest {result.probe_slowest_s:.2f} s; server-side slowest "
        f"{result.server_slowest_s or 0:.2f} s, {result.server_late} late of "
        f"{result.server_logged} logged"
    )
    return result


def _setup_kind(settings: BenchSettings) -> str:
    return SYSTEMS[settings.systems[0]].kind if settings.systems else "gunicorn"


def run_bench(settings: BenchSettings) -> tuple[list[RunResult], list[BurstResult], Path]:
    """Run every phase on every database; write the report; return the results and its path."""
    pin_self(settings.client_core)
    stamp = datetime.now(UTC)
    work = settings.work_dir / f"{stamp:%Y%m%dT%H%M%S}"
    report_dir = report_folder(settings.report_dir, settings.label, stamp)
    csv_dir = report_dir / "runs"
    csv_dir.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    _say(f"work files in {work}; report in {report_dir}")
    sim, sim_url = start_simulator(settings, work / "tws_sim.log")
    _say(f"simulator on {sim_url} at {settings.latency_ms} ms, core {settings.client_core}")
    results: list[RunResult] = []
    bursts: list[BurstResult] = []
    try:
        for index, kind in enumerate(settings.databases):
            database = open_database(kind, work, settings.postgres_url)
            try:
                _say(f"{kind}: creating and seeding the template database")
                template_url = database.create_template()
                users = BenchUsers(
                    work / "sqlite" / "template.db", f"{sim_url}/twsd", work / kind,
                    settings.users, _setup_kind(settings), database_url=template_url,
                )  # fmt: skip
                users.prepare()
                context = BenchContext(settings, database, users, sim_url, sim.pid, work, csv_dir)
                results += run_main(context)
                if settings.sweep and index == 0:
                    results += run_sweep(context)
                for app in settings.burst:
                    bursts.append(run_burst(context, app))
            except Exception as exc:  # one database failing leaves the others' numbers
                _say(f"{kind}: FAILED: {type(exc).__name__}: {exc}")
                results.append(
                    RunResult("-", "-", database=kind, error=f"{type(exc).__name__}: {exc}")
                )
            finally:
                database.close()
    finally:
        os.killpg(sim.pid, 15)
        sim.wait(timeout=10)
    report = write_report(results, settings, report_dir, bursts)
    return results, bursts, report


def _names(value: str) -> tuple[str, ...]:
    """A comma list; ``none`` (or nothing) is the empty list."""
    items = tuple(s.strip() for s in value.split(",") if s.strip())
    return () if items in ((), ("none",)) else items


def _parse(argv: Sequence[str] | None) -> BenchSettings:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.bench", description=__doc__.splitlines()[0]
    )
    add = parser.add_argument
    add("--duration", type=int, default=20, help="measured seconds per scenario run (20)")
    add("--users", type=int, default=50, help="simulated users per scenario run (50)")
    add("--spawn-rate", type=float, default=50.0, help="users started per second (50)")
    add("--warmup", type=int, default=5, help="seconds after the ramp not measured (5)")
    add("--latency-ms", type=int, default=20, help="TWS latency of the scenario runs (20)")
    add("--systems", default=",".join(SYSTEMS), help=f"comma list of {', '.join(SYSTEMS)}")
    add(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma list of {', '.join(SCENARIOS)}, or none (only the sweep and burst)",
    )
    add(
        "--databases",
        default=",".join(DATABASE_KINDS),
        help="comma list of sqlite, postgresql (both); PostgreSQL databases are created on "
        "--postgres-url's server and dropped after",
    )
    add(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="maintenance database the bench creates its own databases from "
        f"({DEFAULT_POSTGRES_URL}; env RESYNC_BENCH_POSTGRES_URL)",
    )
    add(
        "--sweep",
        default=",".join(str(n) for n in SWEEP_LATENCIES),
        help="TWS latencies (ms) of the jobs sweep on the first database, or none "
        f"({','.join(str(n) for n in SWEEP_LATENCIES)})",
    )
    add("--sweep-users", type=int, default=100, help="users of each sweep run (100)")
    add("--sweep-duration", type=int, default=15, help="measured seconds per sweep run (15)")
    add(
        "--burst",
        default=",".join(BURST_APPS),
        help="apps the burst hits on every database (gunicorn,uvicorn), or none",
    )
    add("--burst-requests", type=int, default=240, help="concurrent requests of a burst (240)")
    add(
        "--burst-timeout",
        type=float,
        default=2.0,
        help="the servers' RESYNC_TWS_TIMEOUT in seconds during a burst (2)",
    )
    add("--burst-hang", type=float, default=30.0, help="seconds each TWS call hangs (30)")
    add(
        "--burst-client-timeout",
        type=float,
        default=120.0,
        help="seconds the burst's client waits for an answer (120)",
    )
    add("--legacy-threads", type=int, default=8, help="gunicorn threads of the one worker (8)")
    add("--server-core", type=int, default=0, help="core the server is pinned to (0)")
    add("--client-core", type=int, default=1, help="core of Locust and the simulator (1)")
    add("--no-pin", action="store_true", help="do not pin anything (no taskset)")
    add("--log-level", default="INFO", help="RESYNC_LOG_LEVEL of the servers (INFO)")
    add("--html", action="store_true", help="also write Locust's HTML report per run")
    add("--report-dir", type=Path, default=REPORTS_DIR, help="reports root (loadtest/reports)")
    add("--label", default="", help="report folder <date>-<label> (none)")
    add("--work-dir", type=Path, default=REPO_ROOT / "var" / "bench", help="logs, databases")
    args = parser.parse_args(argv)
    systems, scenarios = _names(args.systems), _names(args.scenarios)
    databases, burst = _names(args.databases), _names(args.burst)
    try:
        sweep = tuple(int(n) for n in _names(args.sweep))
    except ValueError:
        parser.error(f"--sweep takes whole milliseconds, e.g. 0,20,100 (got {args.sweep!r})")
    unknown = (
        [s for s in systems if s not in SYSTEMS]
        + [s for s in scenarios if s not in SCENARIOS]
        + [d for d in databases if d not in DATABASE_KINDS]
        + [a for a in burst if a not in BURST_APPS]
    )
    if unknown:
        parser.error(f"unknown systems/scenarios/databases/burst apps: {', '.join(unknown)}")
    if scenarios and not systems:
        parser.error("--scenarios needs at least one system (--systems)")
    if not databases:
        parser.error("--databases needs at least one of sqlite, postgresql")
    if not (scenarios or sweep or burst):
        parser.error("nothing to run: no scenario, no sweep and no burst")
    if any(n < 0 for n in sweep) or min(args.burst_requests, args.sweep_users, args.users) < 1:
        parser.error("latencies must be >= 0 and user and request counts >= 1")
    if args.burst_timeout <= 0 or args.burst_hang <= args.burst_timeout:
        parser.error("--burst-hang must be longer than --burst-timeout (> 0): TWS must hang")
    pin = not args.no_pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    if not pin and not args.no_pin:
        print("bench: fewer than 2 cores or no taskset: running unpinned", file=sys.stderr)
    return BenchSettings(
        duration=args.duration,
        users=args.users,
        spawn_rate=args.spawn_rate,
        warmup=args.warmup,
        latency_ms=args.latency_ms,
        systems=systems if scenarios else (),
        scenarios=scenarios,
        databases=databases,
        postgres_url=args.postgres_url,
        sweep=sweep,
        sweep_users=args.sweep_users,
        sweep_duration=args.sweep_duration,
        burst=burst,
        burst_requests=args.burst_requests,
        burst_timeout=args.burst_timeout,
        burst_hang=args.burst_hang,
        burst_client_timeout=args.burst_client_timeout,
        legacy_threads=args.legacy_threads,
        server_core=args.server_core if pin else None,
        client_core=args.client_core if pin else None,
        log_level=args.log_level,
        html=args.html,
        label=args.label,
        report_dir=args.report_dir,
        work_dir=args.work_dir,
        command=shlex.join(
            ["python", "-m", "loadtest.bench", *(sys.argv[1:] if argv is None else argv)]
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench from the command line; print the tables; 0 if every run produced numbers."""
    settings = _parse(argv)
    results, bursts, report = run_bench(settings)
    print()
    print(report.read_text(encoding="utf-8").split(TABLE_END, 1)[0])
    _say(f"report written to {report}")
    ran = [r for r in results if not r.error.startswith("skipped")]
    return 0 if all(r.ok for r in ran) and all(not b.error for b in bursts) else 1


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    # SIGTERM (kill, timeout) unwinds like Ctrl-C: every server the bench started is stopped
    # and every database it made is dropped by the finally blocks on the way out.
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    raise SystemExit(main())
