"""The app factory in-process: settings go in, and the served data, credentials and log follow."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

import tws_sim
from tws_sim import ServerSettings, build_dataset, create_app
from tws_sim.settings import FaultSettings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def serve(settings: ServerSettings) -> AsyncIterator[httpx.AsyncClient]:
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        async with httpx.AsyncClient(
            base_url=str(server.make_url("/")), auth=(settings.user, settings.password)
        ) as client:
            yield client
    finally:
        await server.close()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = ServerSettings(seed=7, user="ops", password="s3cret", access_log=True)
    async for client in serve(settings):
        yield client


async def test_the_app_serves_the_data_set_of_its_seed(client: httpx.AsyncClient) -> None:
    body = (await client.get("/twsd/model/jobdefinition", params={"limit": 1000})).json()
    assert body["items"] == build_dataset(7).jobs
    assert body["items"] != build_dataset(42).jobs


async def test_the_app_checks_the_credentials_it_was_given(client: httpx.AsyncClient) -> None:
    assert (await client.get("/twsd/plan/current")).status_code == 200
    default = await client.get("/twsd/plan/current", auth=("twsuser", "twspass"))
    assert default.status_code == 401


async def test_the_start_settings_apply_and_reset_returns_to_them() -> None:
    settings = ServerSettings(faults=FaultSettings(error_rate=1.0, timeout_seconds=3))
    async for client in serve(settings):
        assert (await client.get("/twsd/plan/current")).status_code == 500
        await client.put("/_control", json={"error_rate": 0})
        assert (await client.get("/twsd/plan/current")).status_code == 200
        reset = (await client.post("/_control/reset")).json()
        assert reset == settings.faults.as_dict()
        assert (await client.get("/twsd/plan/current")).status_code == 500


async def test_the_access_log_has_one_line_per_request(client: httpx.AsyncClient) -> None:
    with capture_logs() as logs:
        await client.get("/twsd/model/jobdefinition/J0003")
        await client.get("/_control/health")
    assert [(log["event"], log["path"], log["status"]) for log in logs] == [
        ("request", "/twsd/model/jobdefinition/J0003", 200),
        ("request", "/_control/health", 200),
    ]
    assert all(log["app"] == "tws_sim" and log["method"] == "GET" for log in logs)
    assert "authorization" not in str(logs).lower()


async def test_the_access_log_is_off_by_default() -> None:
    with capture_logs() as logs:
        async for client in serve(ServerSettings()):
            assert (await client.get("/twsd/plan/current")).status_code == 200
    assert logs == []


def test_the_public_names_are_pinned() -> None:
    assert sorted(tws_sim.__all__) == [
        "Catalog",
        "DataSet",
        "Fault",
        "FaultInjector",
        "FaultPlan",
        "FaultSettings",
        "InvalidQuery",
        "InvalidSettings",
        "JobQuery",
        "ServerSettings",
        "TwsSimError",
        "build_dataset",
        "create_app",
    ]
    assert all(hasattr(tws_sim, name) for name in tws_sim.__all__)
