"""``TwsHttp`` against the real simulator: auth, query, status, timeouts, closing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from resync_fastapi.core.exceptions import UpstreamError, UpstreamTimeout
from resync_fastapi.services.tws_transport import TwsHttp
from tests.services import TwsSim, free_port


def _run(
    base_url: str, call: Callable[[TwsHttp], Awaitable[Any]], *, password: str = "twspass"
) -> tuple[Any, TwsHttp]:
    http = TwsHttp(base_url, "twsuser", password, timeout=0.5, max_connections=4)

    async def main() -> Any:
        try:
            return await call(http)
        finally:
            await http.aclose()

    return asyncio.run(main()), http


@pytest.mark.parametrize(
    "base", [pytest.param("", id="no-trailing-slash"), pytest.param("/", id="trailing-slash")]
)
def test_get_sends_credentials_and_query_and_returns_status_and_body(
    tws_sim: TwsSim, base: str
) -> None:
    (status, body), _ = _run(
        tws_sim.twsd_url + base,
        lambda http: http.get("/model/jobdefinition", {"status": "ABEND", "limit": 2}),
    )
    assert status == 200
    page = json.loads(body)
    assert len(page["items"]) == 2
    assert {item["status"] for item in page["items"]} == {"ABEND"}


def test_wrong_credentials_are_a_status_not_an_exception(tws_sim: TwsSim) -> None:
    (status, _), _ = _run(
        tws_sim.twsd_url, lambda http: http.get("plan/current"), password="not-the-password"
    )
    assert status == 401


def test_a_slow_answer_is_an_upstream_timeout(tws_sim: TwsSim) -> None:
    tws_sim.configure(latency_ms=1500)
    with pytest.raises(UpstreamTimeout):
        _run(tws_sim.twsd_url, lambda http: http.get("plan/current"))


def test_a_closed_port_is_unreachable() -> None:
    with pytest.raises(UpstreamError, match="unreachable"):
        _run(f"http://127.0.0.1:{free_port()}/twsd", lambda http: http.get("plan/current"))


def test_aclose_marks_the_client_closed(tws_sim: TwsSim) -> None:
    async def before_close(http: TwsHttp) -> bool:
        await http.get("plan/current")
        return http.is_closed

    was_closed, http = _run(tws_sim.twsd_url, before_close)
    assert was_closed is False
    assert http.is_closed
