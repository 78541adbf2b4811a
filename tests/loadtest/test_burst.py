"""The burst: answers counted by status, the result's shape, and a real burst on uvicorn."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from loadtest.burst import (
    BurstResult,
    BurstShot,
    count_pool_timeouts,
    fire_burst,
    server_seconds,
    summarise,
)
from loadtest.servers import Server, server_command, server_environment
from tests.services import TwsSim, free_port


def empty(**fields: object) -> BurstResult:
    values: dict[str, object] = {
        "app": "uvicorn", "database": "sqlite", "requests": 5, "tws_timeout_s": 2.0,
        "hang_s": 30.0, "client_timeout_s": 60.0,
    }  # fmt: skip
    values.update(fields)
    return BurstResult(**values)  # type: ignore[arg-type]


def test_summarise_counts_statuses_times_waves_and_probes() -> None:
    shots = [
        BurstShot("504", 2.1), BurstShot("504", 2.2), BurstShot("500", 4.3),
        BurstShot("504", 4.4), BurstShot("ReadTimeout", 60.0),
    ]  # fmt: skip
    probes = [BurstShot("200", 0.01), BurstShot("200", 3.5), BurstShot("503", 0.2)]

    result = summarise(empty(), shots, probes)

    assert result.statuses == {"504": 3, "500": 1, "ReadTimeout": 1}
    assert result.status_text() == "3 x 504, 1 x 500, 1 x ReadTimeout"
    assert result.non_504_5xx == 1
    assert result.answered == 4 and not result.answered_all
    assert result.slowest_s == 60.0  # the unanswered one counts as its wait
    assert result.p50_s == 4.3
    assert result.late == 3  # after 2 s + 1 s
    assert result.waves == 2  # answers in the 2-4 s and the 4-6 s windows
    assert (result.probes, result.probes_ok, result.probe_slowest_s) == (3, 2, 3.5)
    assert result.probe_statuses == {"200": 2, "503": 1}


def test_a_burst_result_survives_results_json() -> None:
    result = summarise(empty(), [BurstShot("504", 2.1)], [BurstShot("200", 0.1)])
    result.pool_timeouts = 3

    assert BurstResult.from_json(result.to_json()) == result


def test_pool_timeouts_are_counted_from_the_server_log() -> None:
    log = "\n".join([
        '{"event": "request failed", "exc": "sqlalchemy.exc.TimeoutError: QueuePool limit of '
        'size 5 overflow 10 reached, connection timed out, timeout 30.00"}',
        '{"event": "request", "status": 504}',
        "QueuePool limit of size 5 overflow 10 reached",
    ])  # fmt: skip

    assert count_pool_timeouts(log) == 2
    assert count_pool_timeouts("") == 0


def test_a_real_burst_on_uvicorn_answers_every_request_504_and_the_probe_200(
    seeded_database: Path, tws_sim: TwsSim, tmp_path: Path
) -> None:
    database = tmp_path / "resync.db"
    shutil.copyfile(seeded_database, database)
    port = free_port()
    env = server_environment(
        database_url=f"sqlite:///{database}",
        tws_url=tws_sim.twsd_url,
        extra={
            "RESYNC_ENV": "test",
            "RESYNC_TWS_TIMEOUT": "0.5",
            # small pools: more requests in flight than TWS connections or database connections
            "RESYNC_TWS_MAX_CONNECTIONS": "2",
            "RESYNC_DB_POOL_SIZE": "1",
            "RESYNC_DB_MAX_OVERFLOW": "0",
            "RESYNC_AUTH_CACHE_SECONDS": "0",
        },
    )
    command = server_command("uvicorn", host="127.0.0.1", port=port)
    with Server(command, env, f"http://127.0.0.1:{port}", tmp_path / "server.log") as server:
        login = httpx.post(
            f"{server.base_url}/api/v1/auth/login",
            json={"username": "operator", "password": "resync-operator-dev"},
            timeout=30,
        )
        token = login.json()["access_token"]
        tws_sim.configure(timeout_rate=1.0, timeout_seconds=10.0)  # TWS hangs past 0.5 s

        shots, probes = fire_burst(
            server.base_url, [token], requests=40, client_timeout=30.0, probe_interval=0.1
        )
    logged = server_seconds((tmp_path / "server.log").read_text(encoding="utf-8"))

    result = summarise(empty(requests=40, tws_timeout_s=0.5), shots, probes, logged)
    assert result.statuses == {"504": 40}, result.statuses
    # the server's own count: no request took longer than the timeout + 1 s from its arrival
    assert (result.server_logged, result.server_late) == (40, 0), logged
    assert result.non_504_5xx == 0
    assert result.answered_all
    assert result.probes >= 1
    assert result.probe_statuses == {"200": result.probes}


def test_server_seconds_reads_the_request_log_of_one_path() -> None:
    log = "\n".join([
        '{"event": "request", "path": "/api/v1/status/jobs", "status": 504, "duration_ms": 2100.5}',
        '{"event": "request", "path": "/api/v1/agents", "status": 200, "duration_ms": 3.0}',
        '{"event": "unhandled_error", "path": "/api/v1/status/jobs"}',
        'not json "request" /api/v1/status/jobs',
    ])  # fmt: skip

    assert server_seconds(log) == [2.1005]
    assert server_seconds(log, "/api/v1/agents") == [0.003]
