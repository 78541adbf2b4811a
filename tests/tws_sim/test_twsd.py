"""The /twsd paths of a real simulator process, called over HTTP: shapes, auth, queries, faults."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator

import aiohttp
import httpx
import pytest

from tests.services import TwsSim
from tws_sim.dataset import build_dataset

DATASET = build_dataset(42)  # the seed `python -m tws_sim` serves by default


@pytest.fixture
def client(tws_sim: TwsSim) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=tws_sim.twsd_url, auth=(tws_sim.user, tws_sim.password), timeout=5
    ) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/plan/current", DATASET.plan, id="plan"),
        pytest.param(
            "/model/workstation",
            {"items": DATASET.workstations, "total": len(DATASET.workstations)},
            id="workstations",
        ),
        pytest.param("/model/jobdefinition/J0001", DATASET.jobs[0], id="job"),
        pytest.param("/model/jobdefinition/J0500", DATASET.jobs[499], id="last-job"),
        pytest.param(
            "/model/jobdefinition/J0042/history",
            {"job_id": "J0042", "items": DATASET.histories["J0042"]},
            id="history",
        ),
        pytest.param(
            "/model/jobdefinition/J0042/log",
            {"job_id": "J0042", "log": DATASET.logs["J0042"]},
            id="log",
        ),
        pytest.param(
            "/model/jobdefinition/J0042/dependencies",
            {"job_id": "J0042", "items": DATASET.dependencies["J0042"]},
            id="dependencies",
        ),
    ],
)
def test_paths_answer_the_seeded_data_as_json(
    client: httpx.Client, path: str, expected: object
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == expected


def test_critical_path_lists_about_ten_full_jobs(client: httpx.Client) -> None:
    body = client.get("/plan/current/criticalpath").json()
    assert body["plan_id"] == "PLAN_20261126"
    assert 8 <= len(body["jobs"]) <= 12
    jobs = {job["id"]: job for job in DATASET.jobs}
    assert body["jobs"] == [jobs[job["id"]] for job in body["jobs"]]


def test_the_job_list_pages_through_all_500_jobs(client: httpx.Client) -> None:
    first = client.get("/model/jobdefinition").json()
    assert first["total"] == 500
    assert len(first["items"]) == 100
    every = client.get("/model/jobdefinition", params={"limit": 1000}).json()
    assert every == {"items": DATASET.jobs, "total": 500}
    last = client.get("/model/jobdefinition", params={"limit": 7, "offset": 497}).json()
    assert last == {"items": DATASET.jobs[497:], "total": 500}


def test_the_job_list_filters_by_status_workstation_and_name(client: httpx.Client) -> None:
    job = next(job for job in DATASET.jobs if job["status"] == "HOLD")
    params = {
        "status": "HOLD",
        "workstation": job["workstation"].lower(),
        "name": job["name"].lower(),
    }
    assert client.get("/model/jobdefinition", params=params).json() == {
        "items": [job],
        "total": 1,
    }
    held = client.get("/model/jobdefinition", params={"status": "HOLD", "limit": 1000}).json()
    assert held["items"] == [j for j in DATASET.jobs if j["status"] == "HOLD"]


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"limit": "0"}, id="limit-0"),
        pytest.param({"limit": "1001"}, id="limit-1001"),
        pytest.param({"limit": "abc"}, id="limit-word"),
        pytest.param({"offset": "-1"}, id="offset-negative"),
        pytest.param({"status": "RUNNING"}, id="status-unknown"),
    ],
)
def test_bad_query_parameters_answer_400_with_an_error(
    client: httpx.Client, params: dict[str, str]
) -> None:
    response = client.get("/model/jobdefinition", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()) == {"error"}
    assert next(iter(params)) in response.json()["error"]


@pytest.mark.parametrize(
    "suffix",
    [
        pytest.param("", id="job"),
        pytest.param("/history", id="history"),
        pytest.param("/log", id="log"),
        pytest.param("/dependencies", id="dependencies"),
    ],
)
@pytest.mark.parametrize("job_id", ["J9999", "J0000", "j0001", "nope"])
def test_an_unknown_job_answers_404(client: httpx.Client, suffix: str, job_id: str) -> None:
    response = client.get(f"/model/jobdefinition/{job_id}{suffix}")
    assert response.status_code == 404
    assert response.json() == {"error": "job not found"}


def test_an_unknown_path_answers_a_json_404(client: httpx.Client) -> None:
    response = client.get("/model/nothing")
    assert response.status_code == 404
    assert response.json() == {"error": "not found"}


def test_a_write_method_answers_a_json_405(client: httpx.Client) -> None:
    response = client.post("/plan/current", json={})
    assert response.status_code == 405
    assert response.json() == {"error": "method not allowed"}


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="none"),
        pytest.param(basic("twsuser:wrong"), id="wrong-password"),
        pytest.param(basic("someone:twspass"), id="wrong-user"),
        pytest.param(basic("twsuser"), id="no-colon"),
        pytest.param({"Authorization": "Basic %%%not-base64"}, id="not-base64"),
        pytest.param({"Authorization": "Bearer dHdzdXNlcjp0d3NwYXNz"}, id="wrong-scheme"),
    ],
)
@pytest.mark.parametrize("path", ["/plan/current", "/model/jobdefinition/J0001/log"])
def test_requests_without_the_credentials_answer_401(
    tws_sim: TwsSim, headers: dict[str, str], path: str
) -> None:
    response = httpx.get(tws_sim.twsd_url + path, headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="twsd"'
    assert set(response.json()) == {"error"}


def test_the_scheme_name_is_case_insensitive(tws_sim: TwsSim) -> None:
    headers = {"Authorization": "basic " + basic("twsuser:twspass")["Authorization"][6:]}
    response = httpx.get(tws_sim.twsd_url + "/plan/current", headers=headers, timeout=5)
    assert response.status_code == 200


def test_an_injected_error_answers_500(tws_sim: TwsSim, client: httpx.Client) -> None:
    tws_sim.configure(error_rate=1.0)
    response = client.get("/plan/current")
    assert response.status_code == 500
    assert response.json() == {"error": "injected failure"}


def test_faults_spare_the_control_paths(tws_sim: TwsSim) -> None:
    tws_sim.configure(error_rate=1.0, reset_rate=1.0, latency_ms=60_000)
    assert httpx.get(f"{tws_sim.base_url}/_control/health", timeout=2).json() == {"status": "ok"}
    assert httpx.get(f"{tws_sim.base_url}/_control", timeout=2).json()["error_rate"] == 1.0


def test_an_injected_timeout_outlasts_a_short_client_timeout(
    tws_sim: TwsSim, client: httpx.Client
) -> None:
    tws_sim.configure(timeout_rate=1.0, timeout_seconds=2)
    with pytest.raises(httpx.ReadTimeout):
        client.get("/plan/current", timeout=0.3)


def test_an_injected_timeout_answers_normally_once_it_has_passed(
    tws_sim: TwsSim, client: httpx.Client
) -> None:
    tws_sim.configure(timeout_rate=1.0, timeout_seconds=0.2)
    response = client.get("/plan/current", timeout=5)
    assert response.status_code == 200
    assert response.json() == DATASET.plan


def test_an_injected_reset_drops_the_connection_without_an_answer(
    tws_sim: TwsSim, client: httpx.Client
) -> None:
    tws_sim.configure(reset_rate=1.0)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get("/plan/current")
    tws_sim.reset()
    # The simulator keeps serving after it reset a connection.
    assert client.get("/plan/current").status_code == 200


def test_latency_delays_the_answer(tws_sim: TwsSim, client: httpx.Client) -> None:
    tws_sim.configure(latency_ms=200)
    started = time.perf_counter()
    response = client.get("/plan/current")
    assert response.status_code == 200
    # A lower bound only: a behaviour check that the delay is applied, not a speed target.
    assert time.perf_counter() - started >= 0.2


def test_a_partial_error_rate_fails_some_requests_and_not_others(
    tws_sim: TwsSim, client: httpx.Client
) -> None:
    tws_sim.configure(error_rate=0.5)
    statuses = {client.get("/plan/current").status_code for _ in range(60)}
    assert statuses == {200, 500}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_many_concurrent_delayed_requests_all_get_their_own_answer(
    tws_sim: TwsSim,
) -> None:
    tws_sim.configure(latency_ms=50, jitter_ms=25)
    # aiohttp's client here: httpx's async pool is itself slow with hundreds of connections.
    headers = {"Authorization": aiohttp.encode_basic_auth(tws_sim.user, tws_sim.password)}
    async with aiohttp.ClientSession(tws_sim.base_url, headers=headers) as session:

        async def fetch(number: int) -> tuple[int, object]:
            async with session.get(f"/twsd/model/jobdefinition/J{number:04d}") as response:
                return response.status, await response.json()

        results = await asyncio.gather(*(fetch(number) for number in range(1, 501)))
    assert results == [(200, job) for job in DATASET.jobs]
