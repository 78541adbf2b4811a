"""``GET /status/jobs`` parsed straight from TWS's bytes: what passes, what is TWS's error.

A stand-in TWS (a real HTTP server on loopback) answers ``/model/jobdefinition`` with bodies the
simulator never writes: odd values, missing keys, non-ASCII text, and records each request
target so the query the app sends can be checked.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from yarl import URL

from resync_fastapi.core.responses import dumps
from tests.resync_fastapi.harness import AppHarness, assert_problem, mint, settings_for

JOBS = "/api/v1/status/jobs"


def job(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": "J0001",
        "name": "PAYROLL_01",
        "workstation": "FTA_LINUX_01",
        "job_stream": "JS_PAYROLL",
        "status": "SUCC",
        "start_time": "2026-11-26T01:00:00Z",
        "end_time": None,
    }
    values.update(overrides)
    return values


class FakeTws:
    """Serve ``body`` (bytes) with 200 on every path; remember the request targets."""

    def __init__(self) -> None:
        self.body = b"{}"
        self.targets: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake.targets.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(fake.body)))
                self.end_headers()
                self.wfile.write(fake.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/twsd"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, body: Any) -> None:
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()


@pytest.fixture(scope="module")
def fake_tws() -> Iterator[FakeTws]:
    fake = FakeTws()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


@pytest.fixture(scope="module")
def app(module_database_url: str, fake_tws: FakeTws) -> Iterator[AppHarness]:
    with AppHarness(settings_for(module_database_url, fake_tws.url)) as harness:
        yield harness


def test_items_keep_the_job_keys_in_order_and_the_project_encoding(
    app: AppHarness, fake_tws: FakeTws
) -> None:
    # Extra keys dropped, keys put in the documented order, non-ASCII written as UTF-8.
    item = {"extra": 1, **dict(reversed(job(name='Fähre \u2028 "q" \x1f').items()))}
    fake_tws.answer({"items": [item], "total": 7, "more": True})
    response = app.get(f"{JOBS}?limit=5&offset=2", token=mint("viewer"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    expected = {"items": [job(name='Fähre \u2028 "q" \x1f')], "total": 7, "limit": 5, "offset": 2}
    assert response.content == dumps(expected)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"items": [job(id=7)], "total": 1}, id="number for text"),
        pytest.param(
            {"items": [{k: v for k, v in job().items() if k != "name"}], "total": 1},
            id="missing key",
        ),
        pytest.param({"items": ["J0001"], "total": 1}, id="item not an object"),
        pytest.param({"items": {}, "total": 0}, id="items not a list"),
        pytest.param({"items": [], "total": True}, id="bool total"),
        pytest.param({"items": [], "total": 1.0}, id="float total"),
        pytest.param({"items": []}, id="no total"),
        pytest.param([], id="not an object"),
        pytest.param(b"{not json", id="not JSON"),
    ],
)
def test_a_body_that_is_not_the_expected_object_is_502(
    app: AppHarness, fake_tws: FakeTws, body: Any
) -> None:
    fake_tws.answer(body)
    response = app.get(JOBS, token=mint("viewer"))
    assert_problem(response, 502, "upstream-error", "TWS returned an error.")


def test_the_query_sent_is_the_one_aiohttp_builds_from_params(
    app: AppHarness, fake_tws: FakeTws
) -> None:
    fake_tws.answer({"items": [], "total": 0})
    station = "a b&c=d/é"
    for _ in range(2):  # the second call takes the built URL from the client's cache
        fake_tws.targets.clear()
        response = app.get(
            JOBS,
            params={"status": "ABEND", "workstation": station, "limit": 3},
            token=mint("viewer"),
        )
        assert response.status_code == 200
        expected = URL("/twsd/model/jobdefinition").extend_query(
            {"limit": 3, "offset": 0, "status": "ABEND", "workstation": station}
        )
        assert fake_tws.targets == [expected.raw_path_qs]
