"""JSON is written compact, in declaration order, raw UTF-8, with RFC 3339 Z timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from flask import Flask, jsonify

from legacy_flask.encoding import ResyncJSONProvider, dumps, format_timestamp


def test_dumps_is_compact_ordered_and_unescaped() -> None:
    value = {"z": 1, "a": [1.5, 0.0, None, True], "é": "ünï ✓"}
    assert dumps(value) == '{"z":1,"a":[1.5,0.0,null,true],"é":"ünï ✓"}'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(datetime(2026, 11, 26, 10, 0, 0), "2026-11-26T10:00:00Z", id="naive-utc"),
        pytest.param(datetime(2026, 11, 26, 10, 0, 0, 999_999), "2026-11-26T10:00:00Z", id="micro"),
        pytest.param(
            datetime(2026, 11, 26, 12, 0, tzinfo=timezone(timedelta(hours=2))),
            "2026-11-26T10:00:00Z",
            id="aware-converted",
        ),
        pytest.param(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05Z", id="utc"),
    ],
)
def test_timestamps(value: datetime, text: str) -> None:
    assert format_timestamp(value) == text
    assert dumps({"at": value}) == f'{{"at":"{text}"}}'


def test_nan_and_unknown_types_are_refused() -> None:
    with pytest.raises(ValueError):
        dumps(float("nan"))
    with pytest.raises(TypeError):
        dumps(object())


def test_provider_response_has_no_trailing_newline() -> None:
    app = Flask(__name__)
    app.json = ResyncJSONProvider(app)
    with app.app_context():
        response = jsonify({"b": 1, "a": datetime(2026, 1, 1)})
    assert response.data == b'{"b":1,"a":"2026-01-01T00:00:00Z"}'
    assert response.headers["Content-Type"] == "application/json"
