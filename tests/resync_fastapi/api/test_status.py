"""``/status``: TWS data through the app, and what TWS failures become."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.resync_fastapi.harness import (
    AppHarness,
    assert_problem,
    field_errors,
    mint,
    settings_for,
)
from tests.services import TwsSim, free_port

STATUS = "/api/v1/status"
JOB_KEYS = ["id", "name", "workstation", "job_stream", "status", "start_time", "end_time"]


def _tws(sim: TwsSim, path: str, **params: Any) -> Any:
    response = httpx.get(
        f"{sim.twsd_url}/{path}", params=params, auth=(sim.user, sim.password), timeout=5
    )
    response.raise_for_status()
    return response.json()


def test_summary_combines_plan_fleet_counts_and_critical_path(
    harness: AppHarness, tws_sim: TwsSim
) -> None:
    body = harness.get(STATUS, token=mint("viewer")).json()
    assert list(body) == ["plan", "workstations", "jobs", "critical_jobs", "generated_at"]
    plan = _tws(tws_sim, "plan/current")
    assert body["plan"] == {
        key: plan[key] for key in ("plan_id", "created_at", "jobs_count", "status", "estimated_end")
    }
    fleet = _tws(tws_sim, "model/workstation")
    assert body["workstations"] == {
        "total": fleet["total"],
        "linked": sum(1 for item in fleet["items"] if item["status"] == "LINKED"),
    }
    assert list(body["jobs"]) == ["total", "SUCC", "ABEND", "EXEC", "HOLD", "READY"]
    for status in ("SUCC", "ABEND", "EXEC", "HOLD", "READY"):
        assert (
            body["jobs"][status]
            == _tws(tws_sim, "model/jobdefinition", status=status, limit=1)["total"]
        )
    assert body["jobs"]["total"] == _tws(tws_sim, "model/jobdefinition", limit=1)["total"]
    critical = _tws(tws_sim, "plan/current/criticalpath")["jobs"]
    assert body["critical_jobs"] == [{key: job[key] for key in JOB_KEYS} for job in critical]
    assert body["generated_at"].endswith("Z") and len(body["generated_at"]) == 20


def test_plan_is_the_tws_plan(harness: AppHarness, tws_sim: TwsSim) -> None:
    body = harness.get(f"{STATUS}/plan", token=mint("viewer")).json()
    assert list(body) == ["plan_id", "created_at", "jobs_count", "status", "estimated_end"]
    assert body["plan_id"] == _tws(tws_sim, "plan/current")["plan_id"]


@pytest.mark.parametrize(
    ("query", "start", "stop"),
    [
        pytest.param("", 0, 50, id="defaults"),
        pytest.param("?limit=2&offset=1", 1, 3, id="a page"),
        pytest.param("?offset=100", 100, 150, id="past the end"),
    ],
)
def test_workstations_page_through_the_fleet(
    harness: AppHarness, tws_sim: TwsSim, query: str, start: int, stop: int
) -> None:
    fleet = _tws(tws_sim, "model/workstation")
    body = harness.get(f"{STATUS}/workstations{query}", token=mint("viewer")).json()
    assert body["items"] == fleet["items"][start:stop]
    assert body["total"] == fleet["total"]


def test_jobs_pass_filters_and_pagination_to_tws(harness: AppHarness, tws_sim: TwsSim) -> None:
    body = harness.get(f"{STATUS}/jobs?status=ABEND&limit=3&offset=2", token=mint("viewer")).json()
    expected = _tws(tws_sim, "model/jobdefinition", status="ABEND", limit=3, offset=2)
    assert body["items"] == expected["items"]
    assert (body["total"], body["limit"], body["offset"]) == (expected["total"], 3, 2)
    assert list(body["items"][0]) == JOB_KEYS
    workstation = expected["items"][0]["workstation"]
    by_station = harness.get(
        f"{STATUS}/jobs", params={"workstation": workstation}, token=mint("viewer")
    ).json()
    assert by_station["items"] and {job["workstation"] for job in by_station["items"]} == {
        workstation
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("?status=abend", [("status", "invalid_choice")], id="lower-case status"),
        pytest.param("?status=", [("status", "invalid_choice")], id="empty status"),
        pytest.param("?limit=101", [("limit", "out_of_range")], id="limit"),
    ],
)
def test_bad_job_queries_are_400(
    harness: AppHarness, query: str, expected: list[tuple[str, str]]
) -> None:
    assert field_errors(harness.get(f"{STATUS}/jobs{query}", token=mint("viewer"))) == expected


def test_job_detail_adds_dependencies_and_the_last_ten_runs(
    harness: AppHarness, tws_sim: TwsSim
) -> None:
    body = harness.get(f"{STATUS}/jobs/J0042", token=mint("viewer")).json()
    assert list(body) == [*JOB_KEYS, "dependencies", "history"]
    assert body["id"] == "J0042"
    assert body["dependencies"] == _tws(tws_sim, "model/jobdefinition/J0042/dependencies")["items"]
    history = _tws(tws_sim, "model/jobdefinition/J0042/history")["items"]
    assert body["history"] == history[:10]


def test_job_log(harness: AppHarness, tws_sim: TwsSim) -> None:
    body = harness.get(f"{STATUS}/jobs/J0007/log", token=mint("viewer")).json()
    assert body == {"job_id": "J0007", "log": _tws(tws_sim, "model/jobdefinition/J0007/log")["log"]}


@pytest.mark.parametrize("suffix", ["", "/log"])
def test_unknown_job_is_404(harness: AppHarness, tws_sim: TwsSim, suffix: str) -> None:
    response = harness.get(f"{STATUS}/jobs/J9999{suffix}", token=mint("viewer"))
    assert_problem(response, 404, "not-found", "Job J9999 not found.")


@pytest.mark.parametrize(
    "job_id", ["bad.id", "J" * 65, "a%20b"], ids=["dot", "65 characters", "space"]
)
def test_malformed_job_ids_are_400(harness: AppHarness, job_id: str) -> None:
    response = harness.get(f"{STATUS}/jobs/{job_id}", token=mint("viewer"))
    assert field_errors(response) == [("job_id", "invalid_format")]


@pytest.fixture(scope="module")
def impatient(module_database_url: str, tws_sim_process: TwsSim) -> Iterator[AppHarness]:
    """An app that gives TWS half a second."""
    settings = settings_for(module_database_url, tws_sim_process.twsd_url, tws_timeout=0.5)
    with AppHarness(settings) as started:
        yield started


PATHS = [
    pytest.param(STATUS, id="summary"),
    pytest.param(f"{STATUS}/plan", id="plan"),
    pytest.param(f"{STATUS}/workstations", id="workstations"),
    pytest.param(f"{STATUS}/jobs", id="jobs"),
    pytest.param(f"{STATUS}/jobs/J0001", id="job"),
    pytest.param(f"{STATUS}/jobs/J0001/log", id="log"),
]


@pytest.mark.parametrize("path", PATHS)
def test_tws_errors_are_502_and_the_app_keeps_serving(
    impatient: AppHarness, tws_sim: TwsSim, path: str
) -> None:
    tws_sim.configure(error_rate=1.0)
    assert_problem(
        impatient.get(path, token=mint("viewer")), 502, "upstream-error", "TWS returned an error."
    )
    tws_sim.reset()
    assert impatient.get(path, token=mint("viewer")).status_code == 200


@pytest.mark.parametrize("path", PATHS)
def test_a_slow_tws_is_504(impatient: AppHarness, tws_sim: TwsSim, path: str) -> None:
    tws_sim.configure(latency_ms=1200)
    response = impatient.get(path, token=mint("viewer"))
    assert_problem(response, 504, "upstream-timeout", "TWS did not answer in time.")


def test_reset_connections_are_502(impatient: AppHarness, tws_sim: TwsSim) -> None:
    tws_sim.configure(reset_rate=1.0)
    assert_problem(impatient.get(f"{STATUS}/plan", token=mint("viewer")), 502, "upstream-error")


def test_an_unreachable_tws_is_502(module_database_url: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}/twsd"
    with AppHarness(settings_for(module_database_url, dead)) as app:
        response = app.get(STATUS, token=mint("viewer"))
        assert_problem(response, 502, "upstream-error", "TWS is unreachable.")
        assert app.get("/health/live").status_code == 200


def test_wrong_tws_credentials_are_502(module_database_url: str, tws_sim: TwsSim) -> None:
    settings = settings_for(module_database_url, tws_sim.twsd_url, tws_password="wrong")
    with AppHarness(settings) as app:
        assert_problem(app.get(f"{STATUS}/plan", token=mint("viewer")), 502, "upstream-error")
