"""The JSON encoding of docs/api.md: compact, ordered, UTF-8, ``Z`` timestamps."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

from resync_fastapi.core.responses import dumps, format_timestamp
from tests.resync_fastapi.harness import AppHarness, mint


def test_bodies_are_compact_without_a_trailing_newline(harness: AppHarness) -> None:
    response = harness.get("/api/v1/auth/me", token=mint("admin"))
    assert response.headers["content-type"] == "application/json"
    body = response.content
    assert not body.endswith(b"\n")
    assert body == json.dumps(json.loads(body), separators=(",", ":")).encode()


def test_problem_keys_are_in_documented_order(harness: AppHarness) -> None:
    body = harness.get("/api/v1/agents?limit=0", token=mint("viewer")).json()
    assert list(body) == [
        "type",
        "title",
        "status",
        "detail",
        "instance",
        "request_id",
        "errors",
    ]
    assert list(body["errors"][0]) == ["field", "code", "message"]


def test_timestamps_are_utc_seconds_with_z(harness: AppHarness) -> None:
    body = harness.get("/api/v1/audit/flags?status=approved", token=mint("viewer")).json()
    pattern = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
    for item in body["items"]:
        assert pattern.fullmatch(item["created_at"])
        assert pattern.fullmatch(item["reviewed_at"])


def test_dumps_keeps_non_ascii_and_python_floats() -> None:
    assert dumps({"name": "Zoë ✓", "score": 0.5, "zero": 0.0}) == (
        '{"name":"Zoë ✓","score":0.5,"zero":0.0}'.encode()
    )


def test_format_timestamp_converts_aware_datetimes_to_utc() -> None:
    aware = datetime(2026, 11, 26, 12, 0, 0, 999, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(aware) == "2026-11-26T10:00:00Z"
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    assert format_timestamp(None) is None
