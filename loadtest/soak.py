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

from loadtest.bench import (
    REPORTS_DIR,
    BenchSettings,
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


def run_soak(settings: SoakSettings) -> tuple[SoakResult, Path]:
    """Run the soak; write ``soak.json`` and ``soak.md``; return the result and the folder."""
    pin_self(settings.client_core)
    stamp = datetime.now(UTC)
    work = settings.work_dir / f"{stamp:%Y%m%dT%H%M%S}"
    report_dir = report_folder(settings.report_dir, settings.label, stamp)
    report_dir.mkdir(parents=True, exist_ok=True)
    template = work / "template.db"
    template.parent.mkdir(parents=True, exist_ok=True)
    seed_template(template)
    bench = BenchSettings(latency_ms=settings.latency_ms, client_core=settings.client_core)
    sim, sim_url = start_simulator(bench, work / "tws_sim.log")
    tws_url = f"{sim_url}/twsd"
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
    args = parser.parse_args(argv)
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
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; exit 0 when it answered every request asked, 1 when it stopped early."""
    settings = _parse(argv)
    result, folder = run_soak(settings)
    print((folder / "soak.md").read_text(encoding="utf-8"))
    return 1 if verdict(result, settings) == "incomplete" else 0


if __name__ == "__main__":
    raise SystemExit(main())
