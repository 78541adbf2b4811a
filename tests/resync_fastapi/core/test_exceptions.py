"""Unexpected errors: a 500 problem with the request id, no trace, and the app keeps serving."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from resync_fastapi import create_app
from tests.resync_fastapi.harness import AppHarness, assert_problem, settings_for
from tests.services import TwsSim


class _Boom(RuntimeError):
    pass


@pytest.fixture(scope="module")
def fragile(module_database_url: str, tws_sim_process: TwsSim) -> Iterator[AppHarness]:
    """An app with one extra route that fails with a secret-looking message."""
    app = create_app(settings_for(module_database_url, tws_sim_process.twsd_url))

    async def explode() -> None:
        raise _Boom("SELECT password_hash FROM users -- secret detail")

    app.add_api_route("/_test/explode", explode, methods=["GET"])
    with AppHarness(app.state.settings, app=app) as started:
        yield started


def test_unexpected_errors_are_500_problems_without_details(fragile: AppHarness) -> None:
    with structlog.testing.capture_logs() as logs:
        response = fragile.get("/_test/explode", headers={"X-Request-ID": "boom-1"})
    body = assert_problem(response, 500, "internal", "An unexpected error occurred.")
    assert body["request_id"] == "boom-1"
    assert "SELECT" not in response.text and "Traceback" not in response.text
    errors = [entry for entry in logs if entry["event"] == "unhandled_error"]
    assert len(errors) == 1 and errors[0]["log_level"] == "error"
    assert fragile.get("/health/live").status_code == 200
