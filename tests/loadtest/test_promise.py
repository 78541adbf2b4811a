"""The migration table: every promised figure judged, and a missed row's cause from the runs."""

from __future__ import annotations

from loadtest.burst import BurstResult
from loadtest.promise import Judgement, judge, run_causes, throughput_promise
from loadtest.results import RequestStats, RunResult
from loadtest.usage import UsageSummary


def run(
    system: str,
    scenario: str,
    rps: float,
    *,
    p95: float = 50.0,
    cpu: float = 0.5,
    rss: float = 80.0,
    latency: float = 20,
    threads: int | None = 8,
    users: int = 50,
    database: str = "sqlite",
    sweep: bool = False,
    failures: int = 0,
    load: float = 0.5,
    locust: float = 0.3,
    sim: float = 0.1,
) -> RunResult:
    requests = int(rps * 20)
    stats = RequestStats("", "Aggregated", requests, failures, rps, p95 / 2, p95 / 2, p95,
                         p95 * 2, p95 * 3)  # fmt: skip
    return RunResult(
        system, scenario, stats, UsageSummary(rss * 1.1, rss, 80, cpu_share=cpu),
        load_avg=load, database=database, latency_ms=latency,
        threads=threads if system.startswith("gunicorn") else None, users=users, sweep=sweep,
        locust_cpu=locust, sim_cpu=sim,
    )  # fmt: skip


def rows(results: list[RunResult], bursts: list[BurstResult] | None = None) -> dict[str, Judgement]:
    return {f"{j.database} {j.subject} {j.metric}": j for j in judge(results, bursts or [])}


def test_throughput_promise_follows_the_issue_and_the_nearest_lower_latency() -> None:
    assert throughput_promise("agents", 20) == 2.0
    assert throughput_promise("operator", 0) == 2.0
    assert throughput_promise("jobs", 0) is None
    assert throughput_promise("jobs", 20) == 3.0
    assert throughput_promise("jobs", 50) == 3.0
    assert throughput_promise("jobs", 100) == 5.0
    assert throughput_promise("jobs", 200) == 5.0


def test_every_promised_figure_is_judged_and_a_met_row_has_no_cause() -> None:
    flask = run("gunicorn", "agents", 100.0, cpu=0.9, rss=90.0, p95=100.0)
    fastapi = run("uvicorn", "agents", 300.0, cpu=0.9, rss=80.0, p95=20.0)

    found = rows([flask, fastapi])

    throughput = found["sqlite agents, TWS 20 ms throughput (rps)"]
    assert (throughput.measured, throughput.promise, throughput.verdict) == (
        "3.00x",
        ">= 2x",
        "met",
    )
    assert throughput.cause == ""
    cpu = found["sqlite agents, TWS 20 ms server CPU per request (ms)"]
    # 9 ms/req against 3 ms/req: a third of Flask's, within 0.4x
    assert (cpu.flask, cpu.fastapi, cpu.measured, cpu.verdict) == ("9.00", "3.00", "0.33x", "met")
    memory = found["sqlite agents, TWS 20 ms memory, avg RSS (MiB)"]
    assert (memory.measured, memory.verdict) == ("0.89x", "met")
    assert not any("p95" in key for key in found)  # no latency promise on agents


def test_a_missed_row_names_the_saturated_server_and_its_cost_per_request() -> None:
    flask = run("gunicorn", "jobs", 200.0, cpu=0.5, p95=100.0, latency=20)
    fastapi = run("uvicorn", "jobs", 250.0, cpu=0.98, p95=90.0, latency=20)

    found = rows([flask, fastapi])

    throughput = found["sqlite jobs, TWS 20 ms throughput (rps)"]
    assert (throughput.measured, throughput.promise, throughput.verdict) == (
        "1.25x", ">= 3x", "missed",
    )  # fmt: skip
    assert "FastAPI server CPU saturated (98% of its core, 3.92 ms/req)" in throughput.cause
    p95 = found["sqlite jobs, TWS 20 ms latency p95 (ms)"]
    assert (p95.measured, p95.promise, p95.verdict) == ("0.90x", "<= 0.5x", "missed")
    cpu = found["sqlite jobs, TWS 20 ms server CPU per request (ms)"]
    assert (cpu.measured, cpu.promise, cpu.verdict) == ("1.57x", "<= 0.35x", "missed")


def test_the_client_core_saturating_is_the_cause_when_it_did() -> None:
    flask = run("gunicorn", "agents", 400.0, cpu=0.95)
    fastapi = run("uvicorn", "agents", 500.0, cpu=0.6, locust=0.85, sim=0.1)

    cause = rows([flask, fastapi])["sqlite agents, TWS 20 ms throughput (rps)"].cause

    assert "Locust core saturated in FastAPI's run (Locust 85% + simulator 10%)" in cause
    assert "Flask server CPU saturated" in cause


def test_threads_exhausted_and_the_closed_loop_ceiling_come_from_the_figures() -> None:
    # 8 threads x (100 ms TWS + 3 ms CPU) cap Flask at ~78 rps; 30 users at ~102 ms cap FastAPI
    flask = run("gunicorn", "jobs", 76.0, cpu=0.23, latency=100, sweep=True)
    fastapi = run("uvicorn", "jobs", 280.0, cpu=0.47, latency=100, users=30, sweep=True)

    cause = rows([flask, fastapi])["sqlite jobs, TWS 100 ms (sweep) throughput (rps)"].cause

    assert "Flask threads exhausted (8 threads x 103 ms per request: ceiling 78 rps" in cause
    assert "FastAPI at the closed loop's ceiling (30 users / 102 ms = 295 rps)" in cause


def test_pool_timeouts_and_failures_are_causes() -> None:
    flask = run("gunicorn", "agents", 100.0)
    fastapi = run("uvicorn", "agents", 150.0, failures=30)
    fastapi.pool_timeouts = 30
    fastapi.failure_kinds = {"GET /api/v1/agents: HTTPError('500 Server Error')": 30}

    cause = rows([flask, fastapi])["sqlite agents, TWS 20 ms throughput (rps)"].cause

    assert "FastAPI: 30 pool timeouts (QueuePool) in its log" in cause
    assert "FastAPI: 30 failed requests (1.0%); most: GET /api/v1/agents: HTTPError" in cause


def test_a_starved_server_on_a_busy_machine_is_told_apart_from_a_slow_one() -> None:
    starved = run("uvicorn", "agents", 100.0, cpu=0.4, load=4.0)
    idle = run("uvicorn", "agents", 100.0, cpu=0.4, load=0.5)

    assert run_causes(starved, "FastAPI") == [
        "FastAPI server starved or waiting (40% CPU, machine load 4.0)"
    ]
    assert run_causes(idle, "FastAPI") == []


def test_a_miss_with_nothing_measured_against_it_says_so_with_the_deciding_figures() -> None:
    flask = run("gunicorn", "agents", 100.0, cpu=0.5)
    fastapi = run("uvicorn", "agents", 120.0, cpu=0.6)

    cause = rows([flask, fastapi])["sqlite agents, TWS 20 ms throughput (rps)"].cause

    assert cause == (
        "no saturation, starvation or failure measured: FastAPI 5.00 vs Flask 5.00 ms CPU/req"
    )


def test_each_database_and_the_sweep_points_with_a_promise_get_their_rows() -> None:
    results = [
        run("gunicorn", "jobs", 100.0, database="postgresql"),
        run("uvicorn", "jobs", 400.0, database="postgresql"),
        run("gunicorn", "jobs", 300.0, latency=0, sweep=True),
        run("uvicorn", "jobs", 600.0, latency=0, sweep=True),
        run("gunicorn", "jobs", 70.0, latency=100, sweep=True),
        run("uvicorn", "jobs", 400.0, latency=100, sweep=True),
    ]

    found = rows(results)

    assert found["postgresql jobs, TWS 20 ms throughput (rps)"].verdict == "met"
    assert found["sqlite jobs, TWS 100 ms (sweep) throughput (rps)"].measured == "5.71x"
    assert found["sqlite jobs, TWS 100 ms (sweep) throughput (rps)"].verdict == "met"
    assert not any("TWS 0 ms" in key for key in found)  # no promise below 20 ms


def test_a_side_that_did_not_run_is_not_measured() -> None:
    broken = RunResult("uvicorn", "agents", error="ServerError: exited with 1")

    (row,) = judge([run("gunicorn", "agents", 100.0), broken])

    assert (row.verdict, row.cause) == ("not measured", "no successful run of FastAPI")


def burst(app: str = "uvicorn", **fields: object) -> BurstResult:
    values: dict[str, object] = {
        "app": app, "database": "sqlite", "requests": 240, "tws_timeout_s": 2.0, "hang_s": 30.0,
        "client_timeout_s": 120.0, "statuses": {"504": 240}, "answered": 240, "slowest_s": 2.4,
        "p50_s": 2.1, "late": 0, "waves": 1, "probes": 5, "probes_ok": 5,
        "probe_statuses": {"200": 5}, "probe_slowest_s": 0.05,
    }  # fmt: skip
    values.update(fields)
    return BurstResult(**values)  # type: ignore[arg-type]


def test_a_clean_burst_meets_all_three_checks() -> None:
    found = [j for j in judge([], [burst()]) if j.database == "sqlite"]

    assert [(j.metric, j.verdict) for j in found] == [
        ("5xx other than 504", "met"),
        ("slowest answer (s)", "met"),
        ("GET /api/v1/agents meanwhile", "met"),
    ]


def test_the_burst_of_the_issue_misses_with_its_counts_and_pool_timeouts() -> None:
    bad = burst(
        statuses={"504": 150, "500": 90}, slowest_s=41.0, p50_s=26.7, late=200, waves=12,
        pool_timeouts=90, probes=20, probes_ok=3, probe_statuses={"200": 3, "500": 17},
        probe_slowest_s=30.0,
    )  # fmt: skip

    fives, slowest, probes = judge([], [bad])

    assert (fives.fastapi, fives.verdict) == ("90", "missed")
    assert fives.cause == "answers: 150 x 504, 90 x 500; 90 pool timeouts (QueuePool) in the log"
    assert slowest.verdict == "missed"
    assert slowest.cause.startswith("200 answers after 3 s, p50 26.7 s; 90 pool timeouts")
    assert "answers came in 12 waves of the 2 s timeout" in slowest.cause
    assert probes.verdict == "missed"
    assert probes.cause.startswith("probes: 17 x 500, 3 x 200, slowest 30.00 s")


def test_unanswered_requests_miss_the_bound_even_if_the_answered_were_quick() -> None:
    partial = burst(statuses={"504": 200, "ReadTimeout": 40}, answered=200, slowest_s=2.5)

    slowest = judge([], [partial])[1]

    assert slowest.verdict == "missed"
    assert "40 not answered within the client's 120 s" in slowest.cause


def test_only_the_new_apps_bursts_are_judged_against_the_promise() -> None:
    assert judge([], [burst("gunicorn", statuses={"500": 240})]) == []


def test_requests_queued_inside_an_idle_server_are_a_cause() -> None:
    # p50 230 ms at TWS 100 ms and 31 % CPU: requests waited for something inside the server
    queued = run("uvicorn", "jobs", 127.0, p95=310.0, cpu=0.31, latency=100, users=30)
    queued.stats = RequestStats("", "Aggregated", 1900, 0, 127.0, 230.0, 230.0, 310.0, 350.0, 400.0)

    (cause,) = run_causes(queued, "FastAPI")

    assert cause == (
        "FastAPI requests waited inside the server (p50 230 ms against 102 ms of TWS and CPU, "
        "at 31% CPU): a limit such as threads, pooled or TWS connections"
    )
