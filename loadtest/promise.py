"""Judge the measured runs against what the migration promised (issue 11), with causes.

The promise, FastAPI (uvicorn) against Flask (gunicorn, the same threads), same run:

- throughput: >= 5x on ``jobs`` (one TWS call per request) at TWS 100 ms, >= 3x at 20 ms,
  >= 2x on ``agents`` and on the operator mix. Between and beyond those latencies the nearest
  lower promise applies (async gains more as TWS gets slower, so that is the conservative
  reading); below 20 ms there is none and the row is information only;
- latency: FastAPI's p95 <= 0.5x Flask's on ``jobs``;
- server CPU per answered request: ``agents`` <= 0.4x Flask's, ``jobs`` <= 0.35x;
- memory: FastAPI's average RSS <= Flask's, under the same load;
- burst: 240 concurrent TWS-bound requests with TWS hanging: no 5xx other than 504, every
  answer within ``RESYNC_TWS_TIMEOUT`` + 1 s, and another route keeps answering meanwhile.

A missed row carries its cause, read from what the runs measured (never written in advance):
a server core saturated or starved by other load, the Locust core saturated, gunicorn's threads
exhausted, the closed loop's ceiling (users over latency), pool timeouts in the server log,
failed requests. A row with no such finding says so and gives the figures that decide it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loadtest.burst import BurstResult
from loadtest.results import RunResult

__all__ = [
    "BUSY_MACHINE",
    "CLIENT_SATURATED",
    "SATURATED",
    "STARVED_CPU",
    "Judgement",
    "burst_judgements",
    "cpu_ms_per_request",
    "find",
    "judge",
    "run_causes",
    "sweep_judgements",
    "throughput_promise",
]

SATURATED = 0.9  # a server tree at or above this share of its pinned core is CPU-bound
STARVED_CPU = 0.8  # below this while the machine was busy: it was starved, not waiting
BUSY_MACHINE = 2.0  # 1-minute load average above the two cores' worth of work
CLIENT_SATURATED = 0.9  # Locust and the simulator together, on their one core
AT_CEILING = 0.8  # rps at this share of a computed ceiling counts as held by it
QUEUED = 1.5  # a median this many times TWS latency + CPU per request: requests queued inside

LEGACY, NEW = "gunicorn", "uvicorn"
CPU_PROMISE = {"agents": 0.4, "jobs": 0.35}
P95_PROMISE = {"jobs": 0.5}
MEMORY_PROMISE = 1.0  # FastAPI's avg RSS over Flask's


@dataclass(frozen=True, slots=True)
class Judgement:
    """One row of the migration table: a measured figure, its promise, verdict and cause."""

    database: str
    subject: str  # "jobs", "jobs, TWS 100 ms (sweep)", "burst"
    metric: str
    flask: str
    fastapi: str
    measured: str
    promise: str
    verdict: str  # "met" | "missed" | "no promise" | "not measured"
    cause: str = ""

    def row(self) -> list[str]:
        """The Markdown table cells."""
        return [
            self.database, self.subject, self.metric, self.flask, self.fastapi, self.measured,
            self.promise, self.verdict, self.cause or "-",
        ]  # fmt: skip


def throughput_promise(scenario: str, latency_ms: float | None) -> float | None:
    """The promised FastAPI/Flask rps factor for a scenario at a TWS latency (None: none)."""
    if scenario in ("agents", "operator"):
        return 2.0
    if scenario == "jobs" and latency_ms is not None:
        if latency_ms >= 100:
            return 5.0
        if latency_ms >= 20:
            return 3.0
    return None


def find(
    results: Sequence[RunResult],
    scenario: str,
    system: str,
    database: str | None = None,
    *,
    sweep: bool = False,
    latency_ms: float | None = None,
) -> RunResult | None:
    """The successful run of ``system`` on ``scenario`` (and database, sweep point) if any."""
    for r in results:
        if r.scenario != scenario or r.system != system or not r.ok or r.sweep != sweep:
            continue
        if database is not None and r.database != database:
            continue
        if latency_ms is not None and r.latency_ms != latency_ms:
            continue
        return r
    return None


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


def client_share(result: RunResult) -> float | None:
    """Locust's plus the simulator's CPU share of their one core in the measured window."""
    if result.locust_cpu is None:
        return result.client_cpu
    return result.locust_cpu + (result.sim_cpu or 0.0)


def run_causes(result: RunResult | None, label: str) -> list[str]:
    """What limited one run, read from its own figures."""
    if result is None:
        return [f"{label} did not run"]
    found: list[str] = []
    starved = False
    stats, usage = result.stats, result.usage
    cpu_ms = cpu_ms_per_request(result)
    if usage is not None and usage.cpu_share >= SATURATED:
        per = f", {cpu_ms:.2f} ms/req" if cpu_ms else ""
        found.append(f"{label} server CPU saturated ({usage.cpu_share:.0%} of its core{per})")
    elif starved := (
        usage is not None
        and result.load_avg is not None
        and usage.cpu_share < STARVED_CPU
        and result.load_avg > BUSY_MACHINE
    ):
        assert usage is not None and result.load_avg is not None
        found.append(
            f"{label} server starved or waiting ({usage.cpu_share:.0%} CPU, machine load "
            f"{result.load_avg:.1f})"
        )
    client = client_share(result)
    if client is not None and client >= CLIENT_SATURATED:
        parts = f"Locust {result.locust_cpu:.0%}" if result.locust_cpu is not None else ""
        if result.sim_cpu is not None:
            parts += f" + simulator {result.sim_cpu:.0%}"
        found.append(f"Locust core saturated in {label}'s run ({parts or f'{client:.0%}'})")
    exhausted = False
    if stats is not None and result.latency_ms and stats.rps:
        per_request_ms = result.latency_ms + (cpu_ms or 0.0)
        if result.threads and result.system.startswith(LEGACY):
            ceiling = result.threads * 1000 / per_request_ms
            if stats.rps >= AT_CEILING * ceiling:
                exhausted = True
                found.append(
                    f"{label} threads exhausted ({result.threads} threads x "
                    f"{per_request_ms:.0f} ms per request: ceiling {ceiling:.0f} rps, "
                    f"measured {stats.rps:.0f})"
                )
        if result.users:
            ceiling = result.users * 1000 / per_request_ms
            if stats.rps >= AT_CEILING * ceiling:
                found.append(
                    f"{label} at the closed loop's ceiling ({result.users} users / "
                    f"{per_request_ms:.0f} ms = {ceiling:.0f} rps)"
                )
    if (
        stats is not None
        and usage is not None
        and result.latency_ms is not None
        and not exhausted
        and not starved  # a starved server's queue is waiting for its CPU
        and usage.cpu_share < SATURATED
        and (client is None or client < CLIENT_SATURATED)
    ):
        own_ms = result.latency_ms + (cpu_ms or 0.0)
        if stats.p50_ms > QUEUED * own_ms + 5:
            found.append(
                f"{label} requests waited inside the server (p50 {stats.p50_ms:.0f} ms against "
                f"{own_ms:.0f} ms of TWS and CPU, at {usage.cpu_share:.0%} CPU): a limit such "
                "as threads, pooled or TWS connections"
            )
    if result.pool_timeouts:
        found.append(f"{label}: {result.pool_timeouts} pool timeouts (QueuePool) in its log")
    if stats is not None and stats.failures:
        top = next(iter(result.failure_kinds), "")
        most = f"; most: {top}" if top else ""
        found.append(f"{label}: {stats.failures} failed requests ({stats.fail_ratio:.1%}){most}")
    return found


def _cause(new: RunResult | None, old: RunResult | None, fallback: str) -> str:
    found = run_causes(new, "FastAPI") + run_causes(old, "Flask")
    return (
        "; ".join(found) if found else f"no saturation, starvation or failure measured: {fallback}"
    )


def _verdict(value: float | None, bound: float | None, *, at_least: bool) -> str:
    if value is None:
        return "not measured"
    if bound is None:
        return "no promise"
    ok = value >= bound if at_least else value <= bound
    return "met" if ok else "missed"


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _pair_judgements(
    database: str, subject: str, scenario: str, old: RunResult | None, new: RunResult | None,
    latency_ms: float | None, *, with_cpu: bool, with_memory: bool,
) -> list[Judgement]:  # fmt: skip
    rows: list[Judgement] = []
    if old is None or new is None:
        missing = ", ".join(n for n, r in (("Flask", old), ("FastAPI", new)) if r is None)
        return [Judgement(database, subject, "all", "-", "-", "-", "-", "not measured",
                          f"no successful run of {missing}")]  # fmt: skip
    assert old.stats and new.stats and old.usage and new.usage
    old_cpu, new_cpu = cpu_ms_per_request(old), cpu_ms_per_request(new)
    cpu_text = (
        f"FastAPI {new_cpu:.2f} vs Flask {old_cpu:.2f} ms CPU/req"
        if old_cpu and new_cpu
        else "CPU per request not measured"
    )

    factor = _ratio(new.stats.rps, old.stats.rps)
    bound = throughput_promise(scenario, latency_ms)
    verdict = _verdict(factor, bound, at_least=True)
    rows.append(Judgement(
        database, subject, "throughput (rps)", f"{old.stats.rps:.1f}", f"{new.stats.rps:.1f}",
        "-" if factor is None else f"{factor:.2f}x",
        "-" if bound is None else f">= {bound:g}x", verdict,
        _cause(new, old, cpu_text) if verdict == "missed" else "",
    ))  # fmt: skip

    if scenario in P95_PROMISE:
        ratio = _ratio(new.stats.p95_ms, old.stats.p95_ms)
        bound = P95_PROMISE[scenario]
        verdict = _verdict(ratio, bound, at_least=False)
        rows.append(Judgement(
            database, subject, "latency p95 (ms)", f"{old.stats.p95_ms:.0f}",
            f"{new.stats.p95_ms:.0f}", "-" if ratio is None else f"{ratio:.2f}x",
            f"<= {bound:g}x", verdict,
            _cause(new, old, cpu_text) if verdict == "missed" else "",
        ))  # fmt: skip

    if with_cpu and scenario in CPU_PROMISE:
        ratio = _ratio(new_cpu, old_cpu)
        bound = CPU_PROMISE[scenario]
        verdict = _verdict(ratio, bound, at_least=False)
        rows.append(Judgement(
            database, subject, "server CPU per request (ms)",
            "-" if old_cpu is None else f"{old_cpu:.2f}",
            "-" if new_cpu is None else f"{new_cpu:.2f}",
            "-" if ratio is None else f"{ratio:.2f}x", f"<= {bound:g}x", verdict,
            _cause(new, old, f"the app's own cost per request ({cpu_text})")
            if verdict == "missed" else "",
        ))  # fmt: skip

    if with_memory:
        ratio = _ratio(new.usage.avg_mib, old.usage.avg_mib)
        verdict = _verdict(ratio, MEMORY_PROMISE, at_least=False)
        peaks = f"peaks FastAPI {new.usage.peak_mib:.1f}, Flask {old.usage.peak_mib:.1f} MiB"
        rows.append(Judgement(
            database, subject, "memory, avg RSS (MiB)", f"{old.usage.avg_mib:.1f}",
            f"{new.usage.avg_mib:.1f}", "-" if ratio is None else f"{ratio:.2f}x",
            f"<= {MEMORY_PROMISE:g}x", verdict,
            f"the FastAPI process is larger at rest and under this load ({peaks})"
            if verdict == "missed" else "",
        ))  # fmt: skip
    return rows


def judge(results: Sequence[RunResult], bursts: Sequence[BurstResult] = ()) -> list[Judgement]:
    """Every row of the migration table, for every database and scenario measured."""
    rows: list[Judgement] = []
    main = [r for r in results if not r.sweep]
    for database in dict.fromkeys(r.database for r in main):
        for scenario in dict.fromkeys(r.scenario for r in main if r.database == database):
            old = find(main, scenario, LEGACY, database)
            new = find(main, scenario, NEW, database)
            if old is None and new is None:
                continue
            latency = (old or new).latency_ms  # type: ignore[union-attr]
            subject = f"{scenario}, TWS {latency:g} ms" if latency is not None else scenario
            rows += _pair_judgements(
                database, subject, scenario, old, new, latency, with_cpu=True, with_memory=True
            )
    rows += sweep_judgements(results)
    rows += burst_judgements(bursts)
    return rows


def sweep_judgements(results: Sequence[RunResult]) -> list[Judgement]:
    """The sweep's points that carry a promise (jobs at 20 ms and more), against Flask 8 threads."""
    rows: list[Judgement] = []
    points = [r for r in results if r.sweep]
    for database in dict.fromkeys(r.database for r in points):
        latencies = sorted({r.latency_ms for r in points if r.database == database and
                            r.latency_ms is not None})  # fmt: skip
        for latency in latencies:
            if throughput_promise("jobs", latency) is None:
                continue
            old = find(points, "jobs", LEGACY, database, sweep=True, latency_ms=latency)
            new = find(points, "jobs", NEW, database, sweep=True, latency_ms=latency)
            subject = f"jobs, TWS {latency:g} ms (sweep)"
            rows += _pair_judgements(
                database, subject, "jobs", old, new, latency, with_cpu=False, with_memory=False
            )
    return rows


def _burst_rows(burst: BurstResult) -> list[Judgement]:
    subject = f"burst of {burst.requests}, TWS hangs, timeout {burst.tws_timeout_s:g} s"
    if burst.error:
        return [Judgement(burst.database, subject, "all", "-", "-", "-", "-", "not measured",
                          burst.error.splitlines()[0])]  # fmt: skip
    bound = burst.tws_timeout_s + 1.0
    statuses = burst.status_text()
    pools = (
        f"; {burst.pool_timeouts} pool timeouts (QueuePool) in the log"
        if burst.pool_timeouts
        else ""
    )
    rows = []
    bad = burst.non_504_5xx
    rows.append(Judgement(
        burst.database, subject, "5xx other than 504", "-", str(bad), statuses, "0",
        "met" if bad == 0 else "missed", "" if bad == 0 else f"answers: {statuses}{pools}",
    ))  # fmt: skip
    slow_ok = burst.answered_all and burst.slowest_s <= bound
    unanswered = burst.requests - burst.answered
    why = f"{burst.late} answers after {bound:g} s, p50 {burst.p50_s:.1f} s{pools}"
    server_in_time = (
        burst.server_logged == burst.requests
        and burst.server_late == 0
        and burst.server_slowest_s is not None
    )
    if server_in_time:
        why += (
            f"; the server's log has every answer sent within {burst.server_slowest_s:.2f} s of "
            "its arrival: the queue is in the load generator (client or its core), not the app"
        )
    elif burst.waves > 1:
        why += (
            f"; answers came in {burst.waves} waves of the {burst.tws_timeout_s:g} s timeout: "
            "requests queued before their TWS call (threads, pooled or TWS connections)"
        )
    if unanswered:
        why += f"; {unanswered} not answered within the client's {burst.client_timeout_s:g} s"
    rows.append(Judgement(
        burst.database, subject, "slowest answer (s)", "-", f"{burst.slowest_s:.2f}",
        f"{burst.slowest_s:.2f} s", f"<= {bound:g} s", "met" if slow_ok else "missed",
        "" if slow_ok else why,
    ))  # fmt: skip
    if burst.server_logged is not None:
        rows.append(_server_side_row(burst, subject, bound, pools))
    probe_ok = (
        burst.probes > 0 and burst.probes_ok == burst.probes and burst.probe_slowest_s <= bound
    )
    rows.append(Judgement(
        burst.database, subject, f"{burst.probe_route} meanwhile", "-",
        f"{burst.probes_ok}/{burst.probes}", f"slowest {burst.probe_slowest_s:.2f} s",
        f"all 200 within {bound:g} s", "met" if probe_ok else "missed",
        "" if probe_ok else f"probes: {burst.probe_status_text()}, slowest "
        f"{burst.probe_slowest_s:.2f} s{pools}",
    ))  # fmt: skip
    return rows


def _server_side_row(burst: BurstResult, subject: str, bound: float, pools: str) -> Judgement:
    """Arrival to answer as the server logged it (``duration_ms``), whatever the client saw."""
    logged, late = burst.server_logged or 0, burst.server_late or 0
    slowest = burst.server_slowest_s or 0.0
    ok = logged == burst.requests and late == 0
    if logged != burst.requests:
        why = f"the server logged {logged} of {burst.requests} requests (log level above INFO?)"
    else:
        why = (
            f"{late} requests answered more than {bound:g} s after they reached the app: they "
            "queued inside it before or around their TWS call (TWS or database pool waits, a "
            f"busy event loop){pools}"
        )
    return Judgement(
        burst.database, subject, "slowest answer, server-side (s)", "-", f"{slowest:.2f}",
        f"{slowest:.2f} s, {late} late of {logged}", f"<= {bound:g} s", "met" if ok else "missed",
        "" if ok else why,
    )  # fmt: skip


def burst_judgements(bursts: Sequence[BurstResult]) -> list[Judgement]:
    """The promise is the new app's: FastAPI's bursts are judged (Flask's are in their table)."""
    rows: list[Judgement] = []
    for burst in bursts:
        if burst.app == NEW:
            rows += _burst_rows(burst)
    return rows
