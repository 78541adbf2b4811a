"""The /_control endpoint of a real simulator process: read, change, validate and reset."""

from __future__ import annotations

import httpx
import pytest

from tests.services import TwsSim

DEFAULTS = {
    "latency_ms": 0.0,
    "jitter_ms": 0.0,
    "error_rate": 0.0,
    "timeout_rate": 0.0,
    "reset_rate": 0.0,
    "timeout_seconds": 30.0,
}


def test_get_answers_the_current_settings(tws_sim: TwsSim) -> None:
    response = httpx.get(f"{tws_sim.base_url}/_control", timeout=5)
    assert response.status_code == 200
    assert response.json() == DEFAULTS


def test_put_changes_only_the_given_keys_and_sticks(tws_sim: TwsSim) -> None:
    answered = tws_sim.configure(latency_ms=20, error_rate=0.25)
    assert answered == {**DEFAULTS, "latency_ms": 20.0, "error_rate": 0.25}
    assert httpx.get(f"{tws_sim.base_url}/_control", timeout=5).json() == answered
    assert tws_sim.configure(jitter_ms=5) == {**answered, "jitter_ms": 5.0}


def test_reset_restores_the_defaults(tws_sim: TwsSim) -> None:
    tws_sim.configure(latency_ms=20, reset_rate=1, timeout_seconds=1)
    response = httpx.post(f"{tws_sim.base_url}/_control/reset", timeout=5)
    assert response.status_code == 200
    assert response.json() == DEFAULTS
    assert httpx.get(f"{tws_sim.base_url}/_control", timeout=5).json() == DEFAULTS


def test_health_answers_ok(tws_sim: TwsSim) -> None:
    response = httpx.get(f"{tws_sim.base_url}/_control/health", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"error_rate": 1.01}', id="rate-above-1"),
        pytest.param(b'{"timeout_rate": -0.01}', id="rate-below-0"),
        pytest.param(b'{"latency_ms": -1}', id="negative-latency"),
        pytest.param(b'{"jitter_ms": "5"}', id="string"),
        pytest.param(b'{"timeout_seconds": null}', id="null"),
        pytest.param(b'{"reset_rate": true}', id="bool"),
        pytest.param(b'{"latency": 5}', id="unknown-key"),
        pytest.param(b'{"latency_ms": 5, "error_rate": 2}', id="one-bad-of-two"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(b"{not json", id="malformed"),
        pytest.param(b"", id="empty"),
    ],
)
def test_bad_settings_answer_400_and_change_nothing(tws_sim: TwsSim, body: bytes) -> None:
    response = httpx.put(f"{tws_sim.base_url}/_control", content=body, timeout=5)
    assert response.status_code == 400
    assert set(response.json()) == {"error"}
    assert httpx.get(f"{tws_sim.base_url}/_control", timeout=5).json() == DEFAULTS


def test_control_needs_no_credentials_and_twsd_does(tws_sim: TwsSim) -> None:
    assert httpx.get(f"{tws_sim.base_url}/_control", timeout=5).status_code == 200
    assert httpx.get(f"{tws_sim.twsd_url}/plan/current", timeout=5).status_code == 401
