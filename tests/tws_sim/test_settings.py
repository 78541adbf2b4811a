"""Settings: fault values are validated, the environment and command line are read."""

from __future__ import annotations

from typing import Any

import pytest

from tws_sim.__main__ import parse_settings
from tws_sim.errors import InvalidSettings
from tws_sim.settings import FaultSettings, ServerSettings


def test_defaults_are_no_latency_no_faults_and_a_30_second_timeout() -> None:
    assert FaultSettings().as_dict() == {
        "latency_ms": 0.0,
        "jitter_ms": 0.0,
        "error_rate": 0.0,
        "timeout_rate": 0.0,
        "reset_rate": 0.0,
        "timeout_seconds": 30.0,
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"latency_ms": -1}, "latency_ms must be >= 0", id="negative-latency"),
        pytest.param({"jitter_ms": -0.5}, "jitter_ms must be >= 0", id="negative-jitter"),
        pytest.param({"timeout_seconds": -1}, "timeout_seconds must be >= 0", id="neg-timeout"),
        pytest.param({"error_rate": 1.5}, "error_rate must be between 0 and 1", id="rate-above-1"),
        pytest.param({"reset_rate": -0.1}, "reset_rate must be between 0 and 1", id="rate-below-0"),
        pytest.param({"timeout_rate": "0.5"}, "timeout_rate must be a number", id="rate-string"),
        pytest.param({"latency_ms": True}, "latency_ms must be a number", id="bool"),
        pytest.param({"latency_ms": None}, "latency_ms must be a number", id="null"),
        pytest.param({"latency_ms": float("nan")}, "latency_ms must be finite", id="nan"),
        pytest.param({"latency_ms": float("inf")}, "latency_ms must be finite", id="inf"),
        pytest.param({"speed": 1}, "unknown setting(s): speed", id="unknown-key"),
    ],
)
def test_bad_fault_settings_are_rejected(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSettings) as caught:
        FaultSettings().updated(changes)
    assert caught.value.message == message


def test_update_changes_only_the_given_keys_and_coerces_to_float() -> None:
    updated = FaultSettings(latency_ms=5).updated({"error_rate": 1, "timeout_seconds": 0})
    assert updated.as_dict() == {
        "latency_ms": 5.0,
        "jitter_ms": 0.0,
        "error_rate": 1.0,
        "timeout_rate": 0.0,
        "reset_rate": 0.0,
        "timeout_seconds": 0.0,
    }
    assert all(isinstance(value, float) for value in updated.as_dict().values())


def test_server_settings_are_read_from_the_environment() -> None:
    settings = ServerSettings.from_env(
        {
            "TWS_SIM_HOST": "::1",
            "TWS_SIM_PORT": "9100",
            "TWS_SIM_SEED": "7",
            "TWS_SIM_USER": "ops",
            "TWS_SIM_PASSWORD": "pw",
            "TWS_SIM_LATENCY_MS": "20",
            "TWS_SIM_JITTER_MS": "5",
            "TWS_SIM_ERROR_RATE": "0.1",
            "TWS_SIM_TIMEOUT_RATE": "0.2",
            "TWS_SIM_RESET_RATE": "0.3",
            "TWS_SIM_TIMEOUT_SECONDS": "2",
            "TWS_SIM_ACCESS_LOG": "true",
        }
    )
    assert settings == ServerSettings(
        host="::1",
        port=9100,
        seed=7,
        user="ops",
        password="pw",
        access_log=True,
        faults=FaultSettings(20, 5, 0.1, 0.2, 0.3, 2),
    )


def test_an_empty_environment_gives_the_defaults() -> None:
    assert ServerSettings.from_env({}) == ServerSettings()


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({"TWS_SIM_PORT": "http"}, id="port-not-integer"),
        pytest.param({"TWS_SIM_ERROR_RATE": "often"}, id="rate-not-number"),
        pytest.param({"TWS_SIM_RESET_RATE": "2"}, id="rate-out-of-range"),
    ],
)
def test_a_bad_environment_is_rejected(environ: dict[str, str]) -> None:
    with pytest.raises(InvalidSettings):
        ServerSettings.from_env(environ)


def test_command_line_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWS_SIM_PORT", "9100")
    monkeypatch.setenv("TWS_SIM_SEED", "7")
    monkeypatch.setenv("TWS_SIM_ERROR_RATE", "0.5")
    settings = parse_settings(["--port", "9200", "--latency-ms", "15", "--jitter-ms", "3"])
    assert (settings.port, settings.seed) == (9200, 7)
    assert settings.faults == FaultSettings(latency_ms=15, jitter_ms=3, error_rate=0.5)


def test_a_negative_latency_on_the_command_line_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TWS_SIM_LATENCY_MS", raising=False)
    with pytest.raises(SystemExit) as caught:
        parse_settings(["--latency-ms", "-1"])
    assert caught.value.code == 2
