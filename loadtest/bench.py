"""Benchmark every way of serving the Resync API on one pinned core; write a dated report.

``python -m loadtest.bench --duration 30 --users 50 --latency-ms 20`` (``make bench``):

1. seeds a template SQLite database (``migrations``) and adds a pool of bench users through the
   API, so each simulated user signs in as someone else (a canary keys on the token's subject);
2. starts the TWS simulator at the chosen latency, pinned to the *client* core with Locust;
3. for each scenario (``agents``: authenticated ``GET /api/v1/agents``; ``jobs``:
   ``GET /api/v1/status/jobs``, one TWS call each) and each system (legacy under gunicorn, the
   proxy all-legacy, FastAPI under uvicorn, the proxy all-new, the proxy at canary 50 %, the proxy
   shadowing the measured route) starts the server pinned to the *server* core on a fresh copy
   of the database, runs Locust headless (fixed users and duration, the ramp and a warm-up
   excluded by ``--warmup-seconds``), samples the server tree's RSS during the measured window,
   then stops it;
4. writes ``loadtest/reports/<YYYY-MM-DD>/report.md`` (tables, the migration's own comparison,
   the proxy overhead ratios, charts) beside ``results.json`` and Locust's CSVs, and prints the
   table.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from loadtest.common.markers import TARGET_MISSED, WARMUP_OVER
from loadtest.report import write_report
from loadtest.results import AGGREGATED, RunResult, read_stats_csv
from loadtest.servers import (
    REPO_ROOT,
    Server,
    ServerError,
    pinned,
    server_command,
    server_environment,
)
from loadtest.usage import UsageSampler

__all__ = ["SCENARIOS", "SYSTEMS", "BenchSettings", "Scenario", "System", "main", "run_bench"]

BENCH_PASSWORD = "resync-bench-password-0001"  # a throwaway user in a throwaway copy
ADMIN_PASSWORD = os.environ.get("RESYNC_DEMO_ADMIN_PASSWORD", "resync-admin-dev")
TARGETS_DIR = REPO_ROOT / "loadtest" / "targets"
REPORTS_DIR = REPO_ROOT / "loadtest" / "reports"


@dataclass(frozen=True, slots=True)
class Scenario:
    """What the simulated users do: one Locust user class and the route it loads."""

    name: str
    user_class: str
    route: str  # the flag key, "GET /api/v1/agents"

    @property
    def path(self) -> str:
        """The route's path."""
        return self.route.split(" ", 1)[1]


@dataclass(frozen=True, slots=True)
class System:
    """One way to serve the API: a server kind and, for the proxy, how its flags are set."""

    name: str
    kind: str  # "gunicorn" | "uvicorn" | "proxy"
    label: str
    proxy_mode: str | None = None  # "legacy" | "new" | "canary" | "shadow"
    percent: int = 0


SCENARIOS = {
    "agents": Scenario("agents", "AgentsUser", "GET /api/v1/agents"),
    "jobs": Scenario("jobs", "JobsUser", "GET /api/v1/status/jobs"),
}
SYSTEMS = {
    system.name: system
    for system in (
        System("gunicorn", "gunicorn", "legacy Flask, gunicorn"),
        System("proxy-legacy", "proxy", "proxy, every route on legacy", "legacy"),
        System("uvicorn", "uvicorn", "FastAPI, uvicorn"),
        System("proxy-new", "proxy", "proxy, every route on new", "new"),
        System("proxy-canary50", "proxy", "proxy, canary 50 % to new", "canary", 50),
        System("proxy-shadow", "proxy", "proxy, measured route in shadow", "shadow"),
    )
}


@dataclass(frozen=True, slots=True)
class BenchSettings:
    """Everything a bench run is parametrised by (the command-line options)."""

    duration: int = 30
    users: int = 50
    spawn_rate: float = 50.0
    warmup: int = 5
    latency_ms: int = 20
    systems: tuple[str, ...] = tuple(SYSTEMS)
    scenarios: tuple[str, ...] = tuple(SCENARIOS)
    legacy_threads: int = 8
    server_core: int | None = 0
    client_core: int | None = 1
    log_level: str = "INFO"
    html: bool = False
    label: str = ""  # report folder suffix: loadtest/reports/<date>-<label>
    report_dir: Path = REPORTS_DIR
    work_dir: Path = REPO_ROOT / "var" / "bench"
    command: str = ""

    @property
    def run_time(self) -> int:
        """Locust's ``--run-time``: the ramp, the warm-up, then the measured duration."""
        return math.ceil(self.users / self.spawn_rate) + self.warmup + self.duration


def _say(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def free_port() -> int:
    """Return a loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def targets_file(scenario: str, system: str) -> Path | None:
    """The targets for one run: ``<scenario>-<system>.toml``, else ``<scenario>.toml``."""
    for name in (f"{scenario}-{system}.toml", f"{scenario}.toml"):
        if (TARGETS_DIR / name).exists():
            return TARGETS_DIR / name
    return None


# -- fixtures: database, simulator, bench users ------------------------------------------------


def seed_template(path: Path) -> str:
    """Create a migrated, seeded SQLite database at ``path``; return its URL."""
    import migrations  # the shared schema; imported here so --help works without a database

    url = f"sqlite:///{path}"
    migrations.upgrade(url)
    migrations.seed(url, environment="development")
    return url


def checkpoint(path: Path) -> None:
    """Fold the WAL into the database file so that copying the file copies everything."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def copy_database(template: Path, target: Path) -> str:
    """Copy a checkpointed database file; return the copy's URL."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def start_simulator(settings: BenchSettings, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``python -m tws_sim`` at the chosen latency on the client core; return it, its URL."""
    port = free_port()
    command = [sys.executable, "-m", "tws_sim", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--latency-ms", str(settings.latency_ms)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            pinned(command, settings.client_core),
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"tws_sim exited with {process.returncode}; see {log_path}")
        try:
            if httpx.get(f"{base}/_control/health", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise ServerError("tws_sim did not answer within 30 s")


def sign_in(base_url: str, username: str, password: str) -> dict[str, str]:
    """Return bearer headers for ``username`` (raises on failure)."""
    response = httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"username": username, "password": password},
        timeout=30,
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def create_bench_users(base_url: str, count: int) -> None:
    """Add operators ``bench001``.. through ``POST /api/v1/users`` (one argon2 hash each)."""
    admin = sign_in(base_url, "admin", ADMIN_PASSWORD)
    with httpx.Client(base_url=base_url, headers=admin, timeout=60) as client:
        for n in range(1, count + 1):
            body = {"username": f"bench{n:03d}", "password": BENCH_PASSWORD, "role": "operator"}
            response = client.post("/api/v1/users", json=body)
            if response.status_code not in (201, 409):
                refused = f"{response.status_code} {response.text[:200]}"
                raise ServerError(f"creating bench{n:03d}: {refused}")


def issue_tokens(base_url: str, count: int, path: Path) -> None:
    """Sign every bench user in once; write ``username<TAB>access_token`` lines to ``path``."""

    def token(n: int) -> str:
        username = f"bench{n:03d}"
        return f"{username}\t{sign_in(base_url, username, BENCH_PASSWORD)['Authorization'][7:]}"

    with ThreadPoolExecutor(max_workers=4) as pool:
        lines = list(pool.map(token, range(1, count + 1)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass
class BenchUsers:
    """The bench users in the template database and access tokens for them.

    Signing in costs an argon2 verification (CPU and 64 MiB): done here, on an unpinned setup
    server, so that no measured server signs anyone in. Access tokens last 30 minutes; they are
    issued again when older than :attr:`max_age` seconds.
    """

    template: Path
    tws_url: str
    work: Path
    count: int
    kind: str
    max_age: float = 20 * 60
    tokens_file: Path | None = None
    issued_at: float = 0.0

    def _serve(self, log_name: str) -> Server:
        port = free_port()
        env = server_environment(database_url=f"sqlite:///{self.template}", tws_url=self.tws_url)
        command = server_command(self.kind, host="127.0.0.1", port=port)
        return Server(command, env, f"http://127.0.0.1:{port}", self.work / log_name)

    def prepare(self) -> Path:
        """Create the users, issue their tokens, fold the WAL into the template."""
        with self._serve("setup.log") as server:
            _say(f"adding {self.count} bench users through {self.kind} and signing them in")
            create_bench_users(server.base_url, self.count)
            self._issue(server.base_url)
        checkpoint(self.template)
        assert self.tokens_file is not None
        return self.tokens_file

    def fresh(self) -> Path:
        """The tokens file, re-issued first if the tokens are getting old."""
        if self.tokens_file is None or time.monotonic() - self.issued_at > self.max_age:
            with self._serve("tokens.log") as server:
                _say("issuing fresh access tokens")
                self._issue(server.base_url)
        assert self.tokens_file is not None
        return self.tokens_file

    def sign_in_admin(self) -> dict[str, str]:
        """Bearer headers for the demo admin, signed in on a setup server (argon2 stays off the
        measured one)."""
        with self._serve("admin.log") as server:
            return sign_in(server.base_url, "admin", ADMIN_PASSWORD)

    def _issue(self, base_url: str) -> None:
        self.tokens_file = self.work / "tokens.tsv"
        issue_tokens(base_url, self.count, self.tokens_file)
        self.issued_at = time.monotonic()


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


def _locust_command(
    settings: BenchSettings,
    scenario: Scenario,
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
        "--users", str(settings.users),
        "--spawn-rate", str(settings.spawn_rate),
        "--run-time", f"{settings.run_time}s",
        "--stop-timeout", "5",
        "--warmup-seconds", str(settings.warmup),
        "--csv", str(prefix),
        "--resync-tokens-file", str(tokens),
    ]  # fmt: skip
    if settings.html:
        command += ["--html", f"{prefix}.html"]
    if targets is not None:
        command += ["--targets", str(targets)]
    return pinned([*command, scenario.user_class], settings.client_core)


def _follow(
    process: subprocess.Popen[str], log_path: Path, sampler: UsageSampler, missed: list[str]
) -> None:
    """Copy Locust's output to its log; start memory sampling when the warm-up is over."""
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


def run_one(
    settings: BenchSettings,
    system: System,
    scenario: Scenario,
    template: Path,
    tws_url: str,
    run_dir: Path,
    csv_dir: Path,
    tokens: Path,
) -> RunResult:
    """Serve, load, measure and stop one (system, scenario) pair."""
    result = RunResult(system=system.name, scenario=scenario.name)
    work = run_dir / f"{scenario.name}-{system.name}"
    database_url = copy_database(template, work / "resync.db")
    port = free_port()
    env = server_environment(
        database_url=database_url,
        tws_url=tws_url,
        extra={
            "RESYNC_LOG_LEVEL": settings.log_level,
            "STRANGLER_FLAG_STORE_URL": f"sqlite:///{work / 'flags.db'}",
            # the proxy runs the legacy app in as many threads as gunicorn gives it
            "STRANGLER_LEGACY_THREADS": str(settings.legacy_threads),
        },
    )
    try:
        command = server_command(
            system.kind, host="127.0.0.1", port=port, legacy_threads=settings.legacy_threads
        )
    except ServerError as exc:
        result.error = str(exc)
        return result
    server = Server(
        pinned(command, settings.server_core), env, f"http://127.0.0.1:{port}", work / "server.log"
    )
    targets = targets_file(scenario.name, system.name)
    result.targets = str(targets.relative_to(REPO_ROOT)) if targets else ""
    prefix = csv_dir / f"{scenario.name}-{system.name}"
    try:
        server.start()
        if system.proxy_mode:
            configure_proxy(server.base_url, system, scenario)
        sampler = UsageSampler(server.pid).start()
        # Locust is a child we wait for: its CPU shows in RUSAGE_CHILDREN once it has exited.
        children_cpu, started = _children_cpu_seconds(), time.monotonic()
        process = subprocess.Popen(
            _locust_command(settings, scenario, server.base_url, prefix, targets, tokens),
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        follower = threading.Thread(
            target=_follow, args=(process, work / "locust.log", sampler, result.missed)
        )
        follower.start()
        try:
            result.exit_code = process.wait(timeout=settings.run_time + 120)
        finally:
            if process.poll() is None:
                process.kill()
            follower.join(timeout=10)
            result.usage = sampler.stop()
            result.load_avg = os.getloadavg()[0]
            result.client_cpu = (_children_cpu_seconds() - children_cpu) / (
                time.monotonic() - started
            )
        if system.kind == "proxy" and system.proxy_mode in ("canary", "shadow"):
            result.notes.extend(proxy_notes(server.base_url, system, scenario))
        stats_path = Path(f"{prefix}_stats.csv")
        if not stats_path.exists():
            result.error = (
                f"Locust wrote no statistics (exit {result.exit_code}); see {work / 'locust.log'}"
            )
            return result
        result.stats = read_stats_csv(stats_path).get(AGGREGATED)
        if result.usage is not None and result.usage.samples == 0:
            result.notes.append("no usage samples: the warm-up never ended")
    except (ServerError, httpx.HTTPError, subprocess.SubprocessError, OSError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        server.stop()
    return result


def _progress(result: RunResult) -> str:
    if not result.ok:
        reason = result.error.splitlines()[0] if result.error else "no statistics"
        return f"{result.scenario:>6} {result.system:<15} FAILED: {reason}"
    assert result.stats is not None and result.usage is not None
    stats = result.stats
    return (
        f"{result.scenario:>6} {result.system:<15} {stats.rps:8.1f} rps  p50 {stats.p50_ms:5.0f}  "
        f"p95 {stats.p95_ms:5.0f}  p99 {stats.p99_ms:5.0f} ms  failures {stats.failures}  "
        f"RSS peak {result.usage.peak_mib:6.1f} MiB  CPU {result.usage.cpu_share:4.0%}  "
        f"targets {'met' if not result.missed else 'MISSED'}"
    )


def pin_self(core: int | None) -> None:
    """Pin this process (the runner, with the load) to ``core``; ``None`` leaves it free."""
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})


def report_folder(report_dir: Path, label: str, stamp: datetime) -> Path:
    """``<report_dir>/<YYYY-MM-DD>[-label]``: where a run's report goes."""
    return report_dir / "-".join(filter(None, [f"{stamp:%Y-%m-%d}", label]))


def run_bench(settings: BenchSettings) -> tuple[list[RunResult], Path]:
    """Run every (scenario, system) pair; write the report; return the results and its path."""
    pin_self(settings.client_core)
    stamp = datetime.now(UTC)
    work = settings.work_dir / f"{stamp:%Y%m%dT%H%M%S}"
    report_dir = report_folder(settings.report_dir, settings.label, stamp)
    csv_dir = report_dir / "runs"
    csv_dir.mkdir(parents=True, exist_ok=True)
    _say(f"work files in {work}; report in {report_dir}")
    template = work / "template.db"
    template.parent.mkdir(parents=True, exist_ok=True)
    seed_template(template)
    sim, sim_url = start_simulator(settings, work / "tws_sim.log")
    _say(f"simulator on {sim_url} at {settings.latency_ms} ms, core {settings.client_core}")
    results: list[RunResult] = []
    try:
        users = BenchUsers(
            template, f"{sim_url}/twsd", work, settings.users, SYSTEMS[settings.systems[0]].kind
        )
        users.prepare()
        for scenario_name in settings.scenarios:
            for system_name in settings.systems:
                system, scenario = SYSTEMS[system_name], SCENARIOS[scenario_name]
                _say(f"{scenario.name} on {system.label}: {settings.run_time} s ...")
                tokens = users.fresh()
                result = run_one(
                    settings, system, scenario, template, f"{sim_url}/twsd", work, csv_dir, tokens
                )
                results.append(result)
                _say(_progress(result))
    finally:
        os.killpg(sim.pid, 15)
        sim.wait(timeout=10)
    report = write_report(results, settings, report_dir)
    return results, report


def _parse(argv: Sequence[str] | None) -> BenchSettings:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--duration", type=int, default=30, help="measured seconds per run (30)")
    parser.add_argument("--users", type=int, default=50, help="simulated users per run (50)")
    parser.add_argument(
        "--spawn-rate", type=float, default=50.0, help="users started per second (50)"
    )
    parser.add_argument(
        "--warmup", type=int, default=5, help="seconds after the ramp not measured (5)"
    )
    parser.add_argument(
        "--latency-ms", type=int, default=20, help="simulator latency per TWS call (20)"
    )
    parser.add_argument(
        "--systems", default=",".join(SYSTEMS), help=f"comma list of {', '.join(SYSTEMS)}"
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma list of {', '.join(SCENARIOS)}"
    )
    parser.add_argument(
        "--legacy-threads", type=int, default=8, help="gunicorn threads of the one worker (8)"
    )
    parser.add_argument(
        "--server-core", type=int, default=0, help="core the server is pinned to (0)"
    )
    parser.add_argument(
        "--client-core", type=int, default=1, help="core of Locust and the simulator (1)"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin anything (no taskset)")
    parser.add_argument(
        "--log-level", default="INFO", help="RESYNC_LOG_LEVEL of the servers (INFO)"
    )
    parser.add_argument(
        "--html", action="store_true", help="also write Locust's HTML report per run"
    )
    parser.add_argument(
        "--report-dir", type=Path, default=REPORTS_DIR, help="reports root (loadtest/reports)"
    )
    parser.add_argument("--label", default="", help="report folder <date>-<label> (none)")
    parser.add_argument(
        "--work-dir", type=Path, default=REPO_ROOT / "var" / "bench", help="logs, databases"
    )
    args = parser.parse_args(argv)
    systems = tuple(s.strip() for s in args.systems.split(",") if s.strip())
    scenarios = tuple(s.strip() for s in args.scenarios.split(",") if s.strip())
    unknown = [s for s in systems if s not in SYSTEMS] + [
        s for s in scenarios if s not in SCENARIOS
    ]
    if unknown or not systems or not scenarios:
        parser.error(
            f"unknown or missing systems/scenarios: {', '.join(unknown) or '(none given)'}"
        )
    pin = not args.no_pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    if not pin and not args.no_pin:
        print("bench: fewer than 2 cores or no taskset: running unpinned", file=sys.stderr)
    return BenchSettings(
        duration=args.duration,
        users=args.users,
        spawn_rate=args.spawn_rate,
        warmup=args.warmup,
        latency_ms=args.latency_ms,
        systems=systems,
        scenarios=scenarios,
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
    """Run the bench from the command line; print the table; 0 if every run produced numbers."""
    settings = _parse(argv)
    results, report = run_bench(settings)
    print()
    print(report.read_text(encoding="utf-8").split("<!-- table-end -->", 1)[0])
    _say(f"report written to {report}")
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
