"""The capture policy file: per-route sample rate and body bound, checked before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.traffic.errors import CaptureFileError
from proxy.traffic.policy import DEFAULT_BODY_LIMIT, CapturePolicy, RouteCapture, load_capture_file


def test_routes_inherit_the_defaults_and_override_them(tmp_path: Path) -> None:
    path = tmp_path / "capture.toml"
    path.write_text(
        "version = 1\n[defaults]\nbody_limit = 1024\n"
        '[routes."GET /api/v1/agents"]\nsample_rate = 1.0\n'
        '[routes."POST /api/v1/chat"]\nsample_rate = 0.25\nbody_limit = 99\n'
    )

    policy = load_capture_file(path)

    assert policy.for_route("GET /api/v1/agents") == RouteCapture(1.0, 1024)
    assert policy.for_route("POST /api/v1/chat") == RouteCapture(0.25, 99)
    assert policy.for_route("GET /api/v1/users") is None  # defaults: rate 0, not captured
    assert policy.for_route(None) is None
    assert policy.enabled


def test_an_empty_policy_captures_nothing() -> None:
    policy = CapturePolicy.from_mapping({})

    assert not policy.enabled
    assert policy.defaults == RouteCapture(0.0, DEFAULT_BODY_LIMIT)


def test_a_default_rate_captures_every_route() -> None:
    policy = CapturePolicy.from_mapping({"defaults": {"sample_rate": 1}})

    assert policy.for_route("GET /anything/{id}") == RouteCapture(1.0, DEFAULT_BODY_LIMIT)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("version = 2", "version must be 1", id="version"),
        pytest.param("colour = 1", "unknown top-level", id="top-level-key"),
        pytest.param('[routes."GET /a"]\nrate = 1', "unknown key(s) ['rate']", id="route-key"),
        pytest.param('[routes."GET /a"]\nsample_rate = 1.5', "within 0..1", id="rate-high"),
        pytest.param('[routes."GET /a"]\nsample_rate = true', "within 0..1", id="rate-bool"),
        pytest.param('[routes."GET /a"]\nbody_limit = -1', "body_limit", id="limit-negative"),
        pytest.param('[routes."FETCH /a"]\nsample_rate = 1', "not a route key", id="bad-method"),
        pytest.param('[routes]\n"GET /a" = 1', "must be a table", id="route-not-table"),
        pytest.param("[defaults", "not valid TOML", id="toml"),
    ],
)
def test_a_broken_file_is_refused_with_the_file_and_the_reason(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "capture.toml"
    path.write_text(text)

    with pytest.raises(CaptureFileError) as caught:
        load_capture_file(path)

    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CaptureFileError, match="cannot read"):
        load_capture_file(tmp_path / "absent.toml")
