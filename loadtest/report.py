"""Write the bench report: Markdown tables, the migration's comparison, charts and raw results.

The migration promised, for the FastAPI app against the Flask app: 5-7x the throughput, 70 %
lower latency and 47 % less memory. The report states what this machine measured against that
promise, and the proxy's cost (issue 4) as throughput ratios to the bare servers.
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
from typing import TYPE_CHECKING

from loadtest.results import RunResult

if TYPE_CHECKING:
    from loadtest.bench import BenchSettings

__all__ = [
    "LATENCY_PROMISE",
    "MEMORY_PROMISE",
    "THROUGHPUT_PROMISE",
    "caveats",
    "cpu_ms_per_request",
    "main",
    "migration_rows",
    "overhead_rows",
    "write_report",
]

THROUGHPUT_PROMISE = (5.0, 7.0)  # FastAPI / Flask requests per second
LATENCY_PROMISE = 0.70  # share of latency removed
MEMORY_PROMISE = 0.47  # share of resident memory removed
TABLE_END = "<!-- table-end -->"
RESULT_HEADER = (
    "scenario", "system", "rps", "p50 ms", "p95 ms", "p99 ms", "failures", "RSS peak MiB",
    "RSS avg MiB", "server CPU", "CPU ms/req", "Locust CPU", "targets", "load avg",
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


def _find(results: Sequence[RunResult], scenario: str, system: str) -> RunResult | None:
    return next(
        (r for r in results if r.scenario == scenario and r.system == system and r.ok), None
    )


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _change(before: float, after: float, better: str, worse: str) -> tuple[str, float | None]:
    change = _ratio(before - after, before)
    if change is None:
        return "-", None
    return (f"{change:.0%} {better}" if change >= 0 else f"{-change:.0%} {worse}"), change


def migration_rows(results: Sequence[RunResult], scenario: str) -> list[list[str]]:
    """Rows comparing bare Flask (gunicorn) and bare FastAPI (uvicorn) for one scenario."""
    old, new = _find(results, scenario, "gunicorn"), _find(results, scenario, "uvicorn")
    if old is None or new is None:
        return []
    assert old.stats and new.stats and old.usage and new.usage
    low, high = THROUGHPUT_PROMISE
    factor = _ratio(new.stats.rps, old.stats.rps)
    rows = [
        [
            scenario,
            "throughput (rps)",
            f"{old.stats.rps:.1f}",
            f"{new.stats.rps:.1f}",
            "-" if factor is None else f"{factor:.2f}x",
            f"{low:g}-{high:g}x",
            "met" if factor is not None and factor >= low else "not met",
        ]
    ]
    for label, before, after in (
        ("latency p50 (ms)", old.stats.p50_ms, new.stats.p50_ms),
        ("latency p95 (ms)", old.stats.p95_ms, new.stats.p95_ms),
        ("latency p99 (ms)", old.stats.p99_ms, new.stats.p99_ms),
    ):
        text, change = _change(before, after, "lower", "higher")
        met = change is not None and change >= LATENCY_PROMISE
        verdict = "met" if met else "not met"
        rows.append([scenario, label, f"{before:.0f}", f"{after:.0f}", text, "70% lower", verdict])
    text, change = _change(old.usage.avg_mib, new.usage.avg_mib, "less", "more")
    met = change is not None and change >= MEMORY_PROMISE
    old_rss, new_rss = f"{old.usage.avg_mib:.1f}", f"{new.usage.avg_mib:.1f}"
    verdict = "met" if met else "not met"
    rows.append([scenario, "memory, avg RSS (MiB)", old_rss, new_rss, text, "47% less", verdict])
    old_cpu, new_cpu = cpu_ms_per_request(old), cpu_ms_per_request(new)
    if old_cpu and new_cpu:
        text, _ = _change(old_cpu, new_cpu, "less", "more")
        efficiency = f"{text} ({old_cpu / new_cpu:.2f}x the requests per CPU second)"
        rows.append([scenario, "server CPU per request (ms)", f"{old_cpu:.2f}", f"{new_cpu:.2f}",
                     efficiency, "-", "-"])  # fmt: skip
    return rows


def cpu_ms_per_request(result: RunResult) -> float | None:
    """CPU milliseconds the server spent per answered request in the measured window.

    Throughput depends on how much of its core the server got on a shared machine; CPU per
    request does much less, so it is the steadier way to compare two servers' efficiency.
    """
    if result.stats is None or result.usage is None or not result.stats.rps:
        return None
    if not result.usage.cpu_share:
        return None
    return 1000 * result.usage.cpu_share / result.stats.rps


def overhead_rows(results: Sequence[RunResult], scenario: str) -> list[list[str]]:
    """Issue 4: the proxy's throughput as a share of the bare server it fronts."""
    rows = []
    for proxy, bare in (("proxy-new", "uvicorn"), ("proxy-legacy", "gunicorn")):
        p, b = _find(results, scenario, proxy), _find(results, scenario, bare)
        if p is None or b is None:
            continue
        assert p.stats and b.stats
        ratio = _ratio(p.stats.rps, b.stats.rps)
        p95 = _ratio(p.stats.p95_ms, b.stats.p95_ms)
        rows.append(
            [
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


STARVED_CPU = 0.8  # a pinned server below this CPU share was waiting or starved
BUSY_MACHINE = 2.0  # 1-minute load average above the two cores' worth of work


def caveats(results: Sequence[RunResult]) -> list[str]:
    """Say which runs the machine disturbed, so nobody reads too much into their rps."""
    found = []
    starved = [
        f"{r.scenario}/{r.system} ({r.usage.cpu_share:.0%} CPU, load {r.load_avg:.1f})"
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
        f"{r.scenario}/{r.system}" for r in results if r.ok and (r.client_cpu or 0) > 0.9
    ]
    if client_bound:
        found.append(f"Locust used over 90 % of its core in: {', '.join(client_bound)}.")
    return found


def _result_row(result: RunResult) -> list[str]:
    load = "-" if result.load_avg is None else f"{result.load_avg:.1f}"
    if not result.ok:
        reason = (result.error or "no statistics").splitlines()[0][:120].replace("|", "/")
        blank = ["-"] * 4
        rest = ["-"] * 6
        return [result.scenario, result.system, *blank, f"not run: {reason}", *rest, load]
    assert result.stats is not None and result.usage is not None
    s = result.stats
    targets = "met" if not result.missed else f"missed {len(result.missed)}"
    if not result.targets:
        targets = "none"
    return [
        result.scenario,
        result.system,
        f"{s.rps:.1f}",
        f"{s.p50_ms:.0f}",
        f"{s.p95_ms:.0f}",
        f"{s.p99_ms:.0f}",
        f"{s.failures} / {s.requests} ({s.fail_ratio:.2%})",
        f"{result.usage.peak_mib:.1f}",
        f"{result.usage.avg_mib:.1f}",
        f"{result.usage.cpu_share:.0%}",
        "-" if (cpu := cpu_ms_per_request(result)) is None else f"{cpu:.2f}",
        "-" if result.client_cpu is None else f"{result.client_cpu:.0%}",
        targets,
        load,
    ]


def _charts(
    results: Sequence[RunResult], scenarios: Sequence[str], systems: Sequence[str], folder: Path
) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in results if r.ok]
    if not done:
        return []
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
    ax.set_title("Throughput per system (one pinned core)")
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
        ax.set_title(f"Latency percentiles: {scenario}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "latency.png", dpi=110)
    plt.close(fig)
    return ["throughput.png", "latency.png"]


def write_report(results: Sequence[RunResult], settings: BenchSettings, folder: Path) -> Path:
    """Write ``report.md``, the charts and ``results.json`` into ``folder``; return the report."""
    folder.mkdir(parents=True, exist_ok=True)
    scenarios = list(dict.fromkeys(r.scenario for r in results))
    systems = list(dict.fromkeys(r.system for r in results))
    pinning = (
        f"server under test pinned to core {settings.server_core}; Locust, the TWS simulator and "
        f"this runner pinned to core {settings.client_core} (`taskset -c`)"
        if settings.server_core is not None
        else "nothing pinned (fewer than two cores or --no-pin)"
    )
    lines = [
        f"# Resync load-test report, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{settings.command or 'python -m loadtest.bench'}`",
        "",
        f"- Machine: {_cpu_model()}, {os.cpu_count()} cores; {_versions()}.",
        f"- Load: {settings.users} users (closed loop, no think time) per run, spawned at "
        f"{settings.spawn_rate:g}/s, then {settings.warmup} s warm-up (not measured), then "
        f"{settings.duration} s measured. Each user is its own operator, with an access token "
        "issued before the run by a separate setup server (no sign-in on a measured server).",
        f"- TWS simulator latency {settings.latency_ms} ms per call. Legacy: gunicorn 1 worker x "
        f"{settings.legacy_threads} threads (gthread); FastAPI: uvicorn, 1 process; the proxy: "
        "`resync-strangler serve`, 1 process, legacy in an a2wsgi pool of the same "
        f"{settings.legacy_threads} threads, shadow defaults (sample rate 1, 8 concurrent). "
        f"Server log level {settings.log_level}; each run on a fresh copy of one seeded SQLite "
        "database.",
        f"- Pinning: {pinning}.",
        "",
        "## Results",
        "",
        "rps and latency from Locust (measured window only); failures = failed / all requests; "
        "RSS = resident memory of the server's process tree, sampled every 0.25 s in the "
        "measured window; server CPU = the server tree's CPU seconds per second in that window "
        "(100% = its core fully busy); CPU ms/req = server CPU time per answered request, the "
        "figure least disturbed by other load on the machine; Locust CPU = the load "
        "generator's, over its whole run "
        "(near 100%, the client and not the server may be the limit); load avg = the "
        "machine's 1-minute load average at the end of the run (both cores are shared with "
        "other work: above ~2, runs competed for CPU).",
        "",
        _table(RESULT_HEADER, [_result_row(r) for r in results]),
        "",
        "## The migration: Flask (gunicorn) vs FastAPI (uvicorn)",
        "",
    ]
    migration = [row for scenario in scenarios for row in migration_rows(results, scenario)]
    if migration:
        lines.append(
            _table(
                ["scenario", "metric", "Flask", "FastAPI", "change", "promise", "verdict"],
                migration,
            )
        )
    else:
        lines.append("Not measured: both `gunicorn` and `uvicorn` runs are needed.")
    lines += ["", "## Proxy overhead (issue 4)", ""]
    overhead = [row for scenario in scenarios for row in overhead_rows(results, scenario)]
    if overhead:
        lines.append(
            _table(["scenario", "ratio", "rps (proxy / bare)", "rps ratio", "p95 ratio"], overhead)
        )
    else:
        lines.append("Not measured: needs the proxy runs and the bare servers they front.")
    lines += ["", TABLE_END, ""]
    charts = _charts(results, scenarios, systems, folder)
    if charts:
        lines += ["## Charts", ""] + [f"![{name[:-4]}]({name})" for name in charts] + [""]
    found = caveats(results)
    if found:
        lines += ["## Caveats found in these runs", ""] + [f"- {c}" for c in found] + [""]
    details = [r for r in results if r.notes or r.missed or r.error]
    if details:
        lines += ["## Per-run notes", ""]
        for r in details:
            for note in r.notes:
                lines.append(f"- {r.scenario} / {r.system}: {note}")
            for miss in r.missed:
                lines.append(f"- {r.scenario} / {r.system}: target missed: {miss}")
            if r.error:
                lines.append(f"- {r.scenario} / {r.system}: not run: {r.error.splitlines()[0]}")
        lines.append("")
    lines += [
        "## Files",
        "",
        "- `results.json`: every number above, per run.",
        "- `runs/<scenario>-<system>_stats.csv` (+ `_stats_history.csv`, `_failures.csv`, "
        "`_exceptions.csv`): Locust's own output per run.",
        "- Targets per run: `loadtest/targets/<scenario>-<system>.toml`.",
        "",
    ]
    report = folder / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    raw = {
        "settings": {k: _plain(v) for k, v in vars_of(settings).items()},
        "runs": [r.to_json() for r in results],
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
    from loadtest.bench import BenchSettings

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
    print(write_report(results, _settings_from(raw["settings"]), folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
