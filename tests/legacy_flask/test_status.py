"""TWS status endpoints against the running simulator, and TWS being slow, failing or down."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.legacy_flask.conftest import AppFactory
from tests.legacy_flask.harness import assert_problem, auth, field_errors
from tests.services import TwsSim, free_port

JOB_KEYS = ["id", "name", "workstation", "job_stream", "status", "start_time", "end_time"]
PLAN_KEYS = ["plan_id", "created_at", "jobs_count", "status", "estimated_end"]


def tws(sim: TwsSim, path: str, **params: Any) -> Any:
    import httpx

    response = httpx.get(
        f"{sim.twsd_url}{path}", params=params, auth=(sim.user, sim.password), timeout=5
    )
    response.raise_for_status()
    return response.json()


def get(client: FlaskClient, path: str) -> Any:
    return client.get(path, headers=auth("viewer"))


def test_summary(client: FlaskClient, tws_sim: TwsSim) -> None:
    body = get(client, "/api/v1/status").get_json()
    assert list(body) == ["plan", "workstations", "jobs", "critical_jobs", "generated_at"]
    assert body["plan"] == {k: tws(tws_sim, "/plan/current")[k] for k in PLAN_KEYS}
    assert list(body["plan"]) == PLAN_KEYS
    stations = tws(tws_sim, "/model/workstation")["items"]
    assert body["workstations"] == {
        "total": len(stations),
        "linked": sum(1 for s in stations if s["status"] == "LINKED"),
    }
    assert list(body["jobs"]) == ["total", "SUCC", "ABEND", "EXEC", "HOLD", "READY"]
    for status in ("SUCC", "ABEND", "EXEC", "HOLD", "READY"):
        assert (
            body["jobs"][status]
            == tws(tws_sim, "/model/jobdefinition", status=status, limit=1)["total"]
        )
    assert body["jobs"]["total"] == sum(
        body["jobs"][s] for s in ("SUCC", "ABEND", "EXEC", "HOLD", "READY")
    )
    critical = tws(tws_sim, "/plan/current/criticalpath")["jobs"]
    assert body["critical_jobs"] == [{k: job[k] for k in JOB_KEYS} for job in critical]
    assert body["generated_at"].endswith("Z") and len(body["generated_at"]) == 20


def test_workstations_paginated(client: FlaskClient, tws_sim: TwsSim) -> None:
    stations = tws(tws_sim, "/model/workstation")["items"]
    body = get(client, "/api/v1/status/workstations").get_json()
    assert body == {"items": stations, "total": len(stations), "limit": 50, "offset": 0}
    assert all(list(s) == ["name", "type", "status", "last_seen"] for s in body["items"])
    page = get(client, "/api/v1/status/workstations?limit=2&offset=3").get_json()
    assert page["items"] == stations[3:5] and page["total"] == len(stations)


def test_jobs_filtered_and_paginated(client: FlaskClient, tws_sim: TwsSim) -> None:
    expected = tws(tws_sim, "/model/jobdefinition", status="ABEND", limit=3, offset=2)
    body = get(client, "/api/v1/status/jobs?status=ABEND&limit=3&offset=2").get_json()
    assert body == {
        "items": [{k: j[k] for k in JOB_KEYS} for j in expected["items"]],
        "total": expected["total"],
        "limit": 3,
        "offset": 2,
    }
    station = expected["items"][0]["workstation"]
    by_station = get(client, f"/api/v1/status/jobs?workstation={station}&limit=100").get_json()
    assert by_station["items"] and all(j["workstation"] == station for j in by_station["items"])
    assert get(client, "/api/v1/status/jobs?offset=100000").get_json()["items"] == []


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        pytest.param("status=DONE", [("status", "invalid_choice")], id="status"),
        pytest.param("status=abend", [("status", "invalid_choice")], id="status-case"),
        pytest.param("limit=101", [("limit", "out_of_range")], id="limit"),
        pytest.param(
            "status=X&offset=-1",
            [("status", "invalid_choice"), ("offset", "out_of_range")],
            id="both",
        ),
    ],
)
def test_jobs_bad_query(client: FlaskClient, params: str, errors: list[tuple[str, str]]) -> None:
    body = assert_problem(get(client, f"/api/v1/status/jobs?{params}"), 400, "validation")
    assert field_errors(body) == errors
    if errors[0][0] == "status":
        assert body["errors"][0]["message"] == "Must be one of: SUCC, ABEND, EXEC, HOLD, READY."


def test_job_detail(client: FlaskClient, tws_sim: TwsSim) -> None:
    job = tws(tws_sim, "/model/jobdefinition/J0123")
    body = get(client, "/api/v1/status/jobs/J0123").get_json()
    assert list(body) == [*JOB_KEYS, "dependencies", "history"]
    assert {k: body[k] for k in JOB_KEYS} == {k: job[k] for k in JOB_KEYS}
    assert body["dependencies"] == tws(tws_sim, "/model/jobdefinition/J0123/dependencies")["items"]
    history = tws(tws_sim, "/model/jobdefinition/J0123/history")["items"]
    assert len(history) > 10
    assert body["history"] == history[:10]


def test_job_log(client: FlaskClient, tws_sim: TwsSim) -> None:
    body = get(client, "/api/v1/status/jobs/J0007/log").get_json()
    assert body == {"job_id": "J0007", "log": tws(tws_sim, "/model/jobdefinition/J0007/log")["log"]}


@pytest.mark.parametrize("suffix", ["", "/log"])
def test_unknown_job_is_404(client: FlaskClient, tws_sim: TwsSim, suffix: str) -> None:
    response = get(client, f"/api/v1/status/jobs/J9999{suffix}")
    assert_problem(response, 404, "not-found", "Job J9999 not found.")


@pytest.mark.parametrize(
    "job_id",
    [
        pytest.param("J 1", id="space"),
        pytest.param("J.1", id="dot"),
        pytest.param("x" * 65, id="too-long"),
        pytest.param("%C3%A9", id="non-ascii"),
    ],
)
def test_bad_job_id_is_400(client: FlaskClient, job_id: str) -> None:
    body = assert_problem(get(client, f"/api/v1/status/jobs/{job_id}"), 400, "validation")
    assert field_errors(body) == [("job_id", "invalid_format")]


def test_plan(client: FlaskClient, tws_sim: TwsSim) -> None:
    body = get(client, "/api/v1/status/plan").get_json()
    assert list(body) == PLAN_KEYS
    assert body == {k: tws(tws_sim, "/plan/current")[k] for k in PLAN_KEYS}


ALL_STATUS_PATHS = [
    "/api/v1/status",
    "/api/v1/status/workstations",
    "/api/v1/status/jobs",
    "/api/v1/status/jobs/J0001",
    "/api/v1/status/jobs/J0001/log",
    "/api/v1/status/plan",
]


@pytest.mark.parametrize("path", ALL_STATUS_PATHS)
def test_tws_errors_are_502(client: FlaskClient, tws_sim: TwsSim, path: str) -> None:
    tws_sim.configure(error_rate=1.0)
    assert_problem(get(client, path), 502, "upstream-error", "TWS returned an error.")


@pytest.mark.parametrize("path", ALL_STATUS_PATHS)
def test_slow_tws_is_504_and_the_app_keeps_serving(
    make_app: AppFactory, db_path: str, tws_sim: TwsSim, path: str
) -> None:
    client = make_app(db_path, TWS_TIMEOUT=0.2).test_client()
    tws_sim.configure(latency_ms=1500)
    assert_problem(get(client, path), 504, "upstream-timeout", "TWS did not answer in time.")
    assert client.get("/health/live").status_code == 200
    assert get(client, "/api/v1/agents").status_code == 200
    tws_sim.configure(latency_ms=0)
    assert get(client, "/api/v1/status/plan").status_code == 200


def test_tws_reset_is_502(client: FlaskClient, tws_sim: TwsSim) -> None:
    tws_sim.configure(reset_rate=1.0)
    assert_problem(get(client, "/api/v1/status/plan"), 502, "upstream-error", "TWS is unreachable.")
    tws_sim.configure(reset_rate=0.0)
    assert get(client, "/api/v1/status/plan").status_code == 200


@pytest.mark.parametrize("path", ALL_STATUS_PATHS)
def test_tws_down_is_502_and_the_app_keeps_serving(
    make_app: AppFactory, db_path: str, path: str
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/twsd"
    client = make_app(db_path, TWS_URL=closed).test_client()
    assert_problem(get(client, path), 502, "upstream-error", "TWS is unreachable.")
    assert get(client, "/api/v1/agents").status_code == 200


def test_wrong_tws_credentials_are_502(make_app: AppFactory, db_path: str, tws_sim: TwsSim) -> None:
    client = make_app(db_path, TWS_PASSWORD="wrong").test_client()
    assert_problem(
        get(client, "/api/v1/status/plan"), 502, "upstream-error", "TWS returned an error."
    )
