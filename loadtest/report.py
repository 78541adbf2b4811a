"""Write the bench report: Markdown tables, the migration judged, the sweep, the burst, charts.

The migration's promise (issue 11, ``loadtest/promise.py``) is judged row by row, each missed
row with the cause the runs measured; the latency sweep shows where async wins and by how much
(``loadtest/sweep.py``); the burst table counts every answer by status; the proxy's cost
(issue 4) is given as throughput ratios to the bare servers.
"""

from __future__ import annotations

import ast
import json
import os
import platform
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from loadtest.burst import BurstResult
from loadtest.promise import (
    BUSY_MACHINE,
    CLIENT_SATURATED,
    STARVED_CPU,
    client_share,
    cpu_ms_per_request,
    judge,
)
from loadtest.results import RunResult
from loadtest.settings import BenchSettings
from loadtest.sweep import SWEEP_HEADER, sweep_chart, sweep_rows, where_async_wins

__all__ = [
    "TABLE_END",
    "burst_rows",
    "caveats",
    "cpu_ms_per_request",
    "main",
    "migration_rows",
    "overhead_rows",
    "write_report",
]

TABLE_END = "<!-- table-end -->"
RESULT_HEADER = (
    "scenario", "system", "db", "rps", "p50 ms", "p95 ms", "p99 ms", "failures", "RSS peak MiB",
    "RSS avg MiB", "server CPU", "CPU ms/req", "Locust CPU", "sim CPU", "targets",
    "load avg",
)  # fmt: skip
MIGRATION_HEADER = (
    "db", "subject", "metric", "Flask", "FastAPI", "measured", "promise", "verdict", "cause",
)  # fmt: skip
BURST_HEADER = (
    "db", "app", "answers by status", "5xx other than 504", "slowest s", "p50 s",
    "later than timeout + 1 s", "server-side slowest s (late)", "probes 200",
    "slowest probe s", "pool timeouts", "server CPU s", "verdict",
)  # fmt: skip


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _versions() -> str:
    names = (
        "locust",
        "gunicorn",
        "uvicorn",
        "flask",
        "fastapi",
        "starlette",
        "a2wsgi",
        "sqlalchemy",
    )
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join([f"Python {platform.python_version()}", *found])


def _find(
    results: Sequence[RunResult], scenario: str, system: str, database: str | None = None
) -> RunResult | None:
    return next(
        (
            r
            for r in results
            if r.scenario == scenario and r.system == system and r.ok and not r.sweep
            and (database is None or r.database == database)
        ),
        None,
    )  # fmt: skip


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def migration_rows(
    results: Sequence[RunResult], bursts: Sequence[BurstResult] = ()
) -> list[list[str]]:
    """The migration table: every promised figure, its verdict and, when missed, the cause."""
    return [judgement.row() for judgement in judge(results, bursts)]


def burst_rows(bursts: Sequence[BurstResult]) -> list[list[str]]:
    """One row per burst (both apps): the answers by status, times, probes, pool timeouts."""
    rows = []
    for b in bursts:
        if b.error:
            reason = b.error.splitlines()[0][:120].replace("|", "/")
            rows.append([b.database, b.app, f"not run: {reason}", *["-"] * 9, "not measured"])
            continue
        bound = b.tws_timeout_s + 1.0
        met = (
            b.non_504_5xx == 0
            and b.answered_all
            and b.slowest_s <= bound
            and b.probes > 0
            and b.probes_ok == b.probes
            and b.probe_slowest_s <= bound
            and (b.server_logged is None or (b.server_logged == b.requests and not b.server_late))
        )
        server_side = (
            "-"
            if b.server_logged is None
            else f"{b.server_slowest_s or 0:.2f} ({b.server_late} of {b.server_logged})"
        )
        app = b.app if b.threads is None else f"{b.app} ({b.threads} threads)"
        rows.append([
            b.database, app, b.status_text(), str(b.non_504_5xx), f"{b.slowest_s:.2f}",
            f"{b.p50_s:.2f}", str(b.late), server_side, f"{b.probes_ok}/{b.probes}",
            f"{b.probe_slowest_s:.2f}", str(b.pool_timeouts),
            "-" if b.server_cpu_s is None else f"{b.server_cpu_s:.1f}",
            "met" if met else "missed",
        ])  # fmt: skip
    return rows


def overhead_rows(
    results: Sequence[RunResult], scenario: str, database: str | None = None
) -> list[list[str]]:
    """Issue 4: the proxy's throughput as a share of the bare server it fronts."""
    rows = []
    for proxy, bare in (("proxy-new", "uvicorn"), ("proxy-legacy", "gunicorn")):
        p = _find(results, scenario, proxy, database)
        b = _find(results, scenario, bare, database)
        if p is None or b is None:
            continue
        assert p.stats and b.stats
        ratio = _ratio(p.stats.rps, b.stats.rps)
        p95 = _ratio(p.stats.p95_ms, b.stats.p95_ms)
        rows.append(
            [
                *([] if database is None else [database]),
                scenario,
                f"{proxy} / {bare}",
                f"{p.stats.rps:.1f} / {b.stats.rps:.1f}",
                "-" if ratio is None else f"{ratio:.2f}",
                "-" if p95 is None else f"{p95:.2f}",
            ]
        )
    return rows


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def caveats(results: Sequence[RunResult], bursts: Sequence[BurstResult] = ()) -> list[str]:
    """Say which runs the machine disturbed, so nobody reads too much into their rps."""
    found = []
    starved = [
        f"{_where(r)} ({r.usage.cpu_share:.0%} CPU, load {r.load_avg:.1f})"
        for r in results
        if r.ok and r.usage and r.load_avg is not None
        and r.usage.cpu_share < STARVED_CPU and r.load_avg > BUSY_MACHINE
    ]  # fmt: skip
    if starved:
        found.append(
            "The server got less than 80 % of its pinned core while the machine was busy with "
            f"other work in: {', '.join(starved)}. Their rps and latency understate the server; "
            "compare CPU ms/req for these."
        )
    client_bound = [
        f"{_where(r)} ({share:.0%})"
        for r in results
        if r.ok and (share := client_share(r)) is not None and share >= CLIENT_SATURATED
    ]
    if client_bound:
        found.append(
            "Locust and the simulator used at least 90 % of the client core in: "
            f"{', '.join(client_bound)}: the load generator, not the server, may have set "
            "these runs' rps (their rows in the migration table say so)."
        )
    if "postgresql" in {r.database for r in results} | {b.database for b in bursts}:
        found.append(
            "PostgreSQL's own server processes are not pinned and not in the server CPU "
            "figures: on postgresql rows, CPU ms/req is the app's share only."
        )
    return found


def _where(result: RunResult) -> str:
    where = f"{result.database}/{result.scenario}/{result.system}"
    return f"{where}@{result.latency_ms:g}ms" if result.sweep else where


def _result_row(result: RunResult) -> list[str]:
    load = "-" if result.load_avg is None else f"{result.load_avg:.1f}"
    if not result.ok:
        reason = (result.error or "no statistics").splitlines()[0][:120].replace("|", "/")
        blank = ["-"] * 4
        rest = ["-"] * 7
        return [
            result.scenario, result.system, result.database, *blank, f"not run: {reason}",
            *rest, load,
        ]  # fmt: skip
    assert result.stats is not None and result.usage is not None
    s = result.stats
    targets = "met" if not result.missed else f"missed {len(result.missed)}"
    if not result.targets:
        targets = "none"
    return [
        result.scenario,
        result.system,
        result.database,
        f"{s.rps:.1f}",
        f"{s.p50_ms:.0f}",
        f"{s.p95_ms:.0f}",
        f"{s.p99_ms:.0f}",
        f"{s.failures} / {s.requests} ({s.fail_ratio:.2%})",
        f"{result.usage.peak_mib:.1f}",
        f"{result.usage.avg_mib:.1f}",
        f"{result.usage.cpu_share:.0%}",
        "-" if (cpu := cpu_ms_per_request(result)) is None else f"{cpu:.2f}",
        _share(result.locust_cpu if result.locust_cpu is not None else result.client_cpu),
        _share(result.sim_cpu),
        targets,
        load,
    ]


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _charts(
    results: Sequence[RunResult], scenarios: Sequence[str], systems: Sequence[str], folder: Path
) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in results if r.ok and not r.sweep]
    if not done:
        return []
    database = done[0].database  # the first database's runs (the tables have them all)
    done = [r for r in done if r.database == database]
    width = 0.8 / max(1, len(systems))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for i, system in enumerate(systems):
        values = [(_find(done, sc, system) or RunResult(system, sc)).stats for sc in scenarios]
        rps = [v.rps if v else 0 for v in values]
        xs = [n + (i - (len(systems) - 1) / 2) * width for n in range(len(scenarios))]
        bars = ax.bar(xs, rps, width, label=system)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(range(len(scenarios)), scenarios)
    ax.set_ylabel("requests per second")
    ax.set_title(f"Throughput per system (one pinned core, {database})")
    ax.legend(fontsize=8, ncols=3)
    fig.tight_layout()
    fig.savefig(folder / "throughput.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(scenarios), figsize=(6 * len(scenarios), 4.5), squeeze=False)
    for ax, scenario in zip(axes[0], scenarios, strict=True):
        names = [s for s in systems if _find(done, scenario, s)]
        for j, (label, attr) in enumerate(
            (("p50", "p50_ms"), ("p95", "p95_ms"), ("p99", "p99_ms"))
        ):
            values = [getattr(_find(done, scenario, s).stats, attr) for s in names]  # type: ignore[union-attr]
            ax.bar([n + (j - 1) * 0.27 for n in range(len(names))], values, 0.27, label=label)
        ax.set_xticks(range(len(names)), names, rotation=25, ha="right", fontsize=8)
        ax.set_ylabel("milliseconds")
        ax.set_title(f"Latency percentiles: {scenario} ({database})")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "latency.png", dpi=110)
    plt.close(fig)
    return ["throughput.png", "latency.png"]


def _settings_lines(settings: BenchSettings) -> list[str]:
    pinning = (
        f"server under test pinned to core {settings.server_core}; Locust, the TWS simulator and "
        f"this runner pinned to core {settings.client_core} (`taskset -c`)"
        if settings.server_core is not None
        else "nothing pinned (fewer than two cores or --no-pin)"
    )
    databases = ", ".join(settings.databases)
    lines = [
        f"- Machine: {_cpu_model()}, {os.cpu_count()} cores; {_versions()}.",
        f"- Scenario runs: {settings.users} users (closed loop, no think time; the operator mix "
        f"without its pauses) per run, spawned at {settings.spawn_rate:g}/s, then "
        f"{settings.warmup} s warm-up (not measured), then {settings.duration} s measured, TWS "
        f"latency {settings.latency_ms} ms per call. Each user is its own operator, with an "
        "access token issued before the run by a separate setup server (no sign-in on a "
        "measured server).",
        f"- Legacy: gunicorn 1 worker x {settings.legacy_threads} threads (gthread); FastAPI: "
        "uvicorn, 1 process; the proxy: `resync-strangler serve`, 1 process, legacy in an "
        f"a2wsgi pool of the same {settings.legacy_threads} threads, shadow defaults. Server "
        f"log level {settings.log_level}.",
        f"- Databases: {databases}; each run on a fresh copy of one seeded template (a SQLite "
        "file copy; a PostgreSQL `CREATE DATABASE ... TEMPLATE`, dropped after the run: "
        "psycopg on legacy, asyncpg on new).",
        f"- Pinning: {pinning}.",
    ]
    if settings.sweep:
        lines.append(
            f"- Sweep: `jobs` at TWS {', '.join(str(n) for n in settings.sweep)} ms on "
            f"{settings.databases[0]}, {settings.sweep_users} users, {settings.sweep_duration} s "
            "measured per run; Flask sized by Little's law (`loadtest/sweep.py`)."
        )
    if settings.burst:
        lines.append(
            f"- Burst: {settings.burst_requests} concurrent `GET /api/v1/status/jobs` on "
            f"{', '.join(settings.burst)}, every TWS call hanging {settings.burst_hang:g} s "
            f"against RESYNC_TWS_TIMEOUT={settings.burst_timeout:g} s; `GET /api/v1/agents` "
            "probed every 0.5 s meanwhile (at most 20 probes)."
        )
    return lines


RESULTS_LEGEND = (
    "rps and latency from Locust (measured window only); failures = failed / all requests; "
    "RSS = resident memory of the server's process tree, sampled every 0.25 s in the measured "
    "window; server CPU = the server tree's CPU seconds per second in that window (100% = its "
    "core fully busy); CPU ms/req = server CPU time per answered request, the figure least "
    "disturbed by other load on the machine; Locust CPU and sim CPU = the load generator's and "
    "the simulator's shares of the client core they share, in the measured window (together "
    "near 100%, the client and not the server may be the limit); load avg = the machine's "
    "1-minute load average at the end of the run (both cores are shared with other work: "
    "above ~2, runs competed for CPU)."
)


def write_report(
    results: Sequence[RunResult],
    settings: BenchSettings,
    folder: Path,
    bursts: Sequence[BurstResult] = (),
) -> Path:
    """Write ``report.md``, the charts and ``results.json`` into ``folder``; return the report."""
    folder.mkdir(parents=True, exist_ok=True)
    main_runs = [r for r in results if not r.sweep]
    scenarios = list(dict.fromkeys(r.scenario for r in main_runs if r.ok))
    systems = list(dict.fromkeys(r.system for r in main_runs if r.ok))
    databases = list(dict.fromkeys(r.database for r in main_runs))
    lines = [
        f"# Resync load-test report, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{settings.command or 'python -m loadtest.bench'}`",
        "",
        *_settings_lines(settings),
        "",
        "## Results",
        "",
        RESULTS_LEGEND,
        "",
        _table(RESULT_HEADER, [_result_row(r) for r in main_runs])
        if main_runs
        else "No scenario runs (`--scenarios none`).",
        "",
        "## The migration against its promise: Flask (gunicorn) vs FastAPI (uvicorn)",
        "",
        "measured = FastAPI / Flask (Flask with the bench's threads); a missed row's cause is "
        "what the runs measured (`loadtest/promise.py`).",
        "",
    ]
    migration = migration_rows(results, bursts)
    if migration:
        lines.append(_table(MIGRATION_HEADER, migration))
    else:
        lines.append("Not measured: both `gunicorn` and `uvicorn` runs (or a burst) are needed.")
    sweep = sweep_rows(results, settings.legacy_threads)
    if sweep:
        lines += ["", "## Latency sweep: jobs against TWS latency", "", _table(SWEEP_HEADER, sweep)]
        lines += [""] + [f"- {line}" for line in where_async_wins(results)]
    if bursts:
        lines += [
            "", "## Burst: TWS hanging past the timeout", "",
            "Both apps under the same checks (the migration table judges FastAPI's): no 5xx "
            "other than 504, every answer within RESYNC_TWS_TIMEOUT + 1 s, the probes of "
            "`GET /api/v1/agents` all 200 within that bound.",
            "", _table(BURST_HEADER, burst_rows(bursts)),
        ]  # fmt: skip
    lines += ["", "## Proxy overhead (issue 4)", ""]
    overhead = [
        row for db in databases for scenario in scenarios
        for row in overhead_rows(results, scenario, db)
    ]  # fmt: skip
    if overhead:
        header = ["db", "scenario", "ratio", "rps (proxy / bare)", "rps ratio", "p95 ratio"]
        lines.append(_table(header, overhead))
    else:
        lines.append("Not measured: needs the proxy runs and the bare servers they front.")
    lines += ["", TABLE_END, ""]
    charts = _charts(results, scenarios, systems, folder)
    chart = sweep_chart(results, folder)
    if chart:
        charts.append(chart)
    if charts:
        lines += ["## Charts", ""] + [f"![{name[:-4]}]({name})" for name in charts] + [""]
    found = caveats(results, bursts)
    if found:
        lines += ["## Caveats found in these runs", ""] + [f"- {c}" for c in found] + [""]
    details = [
        r for r in results if r.notes or r.missed or (r.error and not r.error.startswith("skipped"))
    ]
    if details:
        lines += ["## Per-run notes", ""]
        for r in details:
            where = _where(r)
            for note in r.notes:
                lines.append(f"- {where}: {note}")
            for miss in r.missed:
                lines.append(f"- {where}: target missed: {miss}")
            if r.error:
                lines.append(f"- {where}: not run: {r.error.splitlines()[0]}")
        lines.append("")
    lines += [
        "## Files",
        "",
        "- `results.json`: every number above, per run and per burst.",
        "- `runs/<db>-[sweep<ms>-]<scenario>-<system>_stats.csv` (+ `_stats_history.csv`, "
        "`_failures.csv`, `_exceptions.csv`): Locust's own output per run.",
        "- Targets per run: `loadtest/targets/<scenario>-<system>.toml`.",
        "",
    ]
    report = folder / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    raw = {
        "settings": {k: _plain(v) for k, v in vars_of(settings).items()},
        "runs": [r.to_json() for r in results],
        "bursts": [b.to_json() for b in bursts],
    }
    (folder / "results.json").write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    return report


def _plain(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def vars_of(settings: BenchSettings) -> dict[str, object]:
    """The settings as a dict (a slotted dataclass has no ``__dict__``)."""
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


def _coerce(value: object, kind: str) -> object:
    """Turn a ``results.json`` setting back into its field's type (older files hold strings)."""
    if isinstance(value, str) and kind != "str":
        value = None if value == "None" else value
        if (isinstance(value, str) and value[:1] in "([") or value in ("True", "False"):
            value = ast.literal_eval(str(value))
    if value is None:
        return None
    if kind.startswith("tuple") and isinstance(value, list | tuple):
        return tuple(value)
    if kind == "Path":
        return Path(str(value))
    if kind.startswith("int"):
        return int(value)  # type: ignore[call-overload]
    if kind.startswith("float"):
        return float(value)  # type: ignore[arg-type]
    return value


def _settings_from(raw: dict[str, object]) -> BenchSettings:
    """Rebuild :class:`BenchSettings` from the ``settings`` of a ``results.json``."""
    fields = BenchSettings.__dataclass_fields__
    values = {name: _coerce(raw[name], str(fields[name].type)) for name in fields if name in raw}
    return BenchSettings(**values)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    """Render ``report.md`` and the charts again from a report folder's ``results.json``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m loadtest.report loadtest/reports/<folder>", file=sys.stderr)
        return 2
    folder = Path(args[0])
    raw = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    results = [RunResult.from_json(run) for run in raw["runs"]]
    bursts = [BurstResult.from_json(b) for b in raw.get("bursts", [])]
    settings = _settings_from(raw["settings"])
    for run in results:  # files written before runs carried their latency: the bench's one
        if run.latency_ms is None and not run.sweep:
            run.latency_ms = settings.latency_ms
        if run.threads is None and run.system.startswith("gunicorn"):
            run.threads = settings.legacy_threads
        if run.users is None and not run.sweep:
            run.users = settings.users
    print(write_report(results, settings, folder, bursts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
