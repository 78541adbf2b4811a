"""``/health``: liveness and readiness (database and TWS)."""

from __future__ import annotations

from pathlib import Path

from tests.resync_fastapi.harness import AppHarness, assert_problem, settings_for
from tests.services import TwsSim, free_port


def test_live_is_ok(harness: AppHarness) -> None:
    response = harness.get("/health/live")
    assert response.status_code == 200
    assert response.content == b'{"status":"ok"}'


def test_ready_when_database_and_tws_answer(harness: AppHarness, tws_sim: TwsSim) -> None:
    response = harness.get("/health/ready")
    assert response.content == b'{"status":"ready","checks":{"database":"ok","tws":"ok"}}'


def test_not_ready_when_tws_fails(harness: AppHarness, tws_sim: TwsSim) -> None:
    tws_sim.configure(error_rate=1.0)
    body = assert_problem(harness.get("/health/ready"), 503, "unavailable", "Not ready: tws.")
    assert body["checks"] == {"database": "ok", "tws": "error"}
    assert list(body)[-1] == "checks"


def test_not_ready_when_the_database_is_unreachable(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "resync.db"
    dead_tws = f"http://127.0.0.1:{free_port()}/twsd"
    with AppHarness(settings_for(f"sqlite:///{missing}", dead_tws)) as app:
        body = assert_problem(
            app.get("/health/ready"), 503, "unavailable", "Not ready: database, tws."
        )
        assert body["checks"] == {"database": "error", "tws": "error"}
        assert app.get("/health/live").status_code == 200
