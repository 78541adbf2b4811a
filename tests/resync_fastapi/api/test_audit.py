"""``/audit``: the review queue, its metrics and the streamed export."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from resync_fastapi.api.v1.routes import audit as audit_routes
from tests.resync_fastapi.harness import (
    AppHarness,
    assert_problem,
    execute,
    field_errors,
    mint,
    snapshot,
)

FLAGS = "/api/v1/audit/flags"
REVIEW = "/api/v1/audit/review"
METRICS = "/api/v1/audit/metrics"
EXPORT = "/api/v1/audit/export"
KEYS = [
    "id",
    "memory_id",
    "agent_id",
    "user_query",
    "agent_response",
    "reason",
    "confidence",
    "status",
    "created_at",
    "reviewed_at",
    "reviewed_by",
]


def _newest_first(items: list[dict[str, Any]]) -> bool:
    keys = [(item["created_at"], item["id"]) for item in items]
    return keys == sorted(keys, reverse=True)


class TestFlags:
    def test_default_is_pending_newest_first(self, harness: AppHarness) -> None:
        body = harness.get(FLAGS, token=mint("viewer")).json()
        assert body["items"] and all(item["status"] == "pending" for item in body["items"])
        assert list(body["items"][0]) == KEYS
        assert _newest_first(body["items"])
        assert body["total"] >= 14

    @pytest.mark.parametrize("status", ["pending", "approved", "rejected"])
    def test_filters_by_status(self, harness: AppHarness, status: str) -> None:
        items = harness.get(f"{FLAGS}?status={status}", token=mint("viewer")).json()["items"]
        assert items and {item["status"] for item in items} == {status}

    def test_all_lists_every_state(self, harness: AppHarness) -> None:
        body = harness.get(f"{FLAGS}?status=all&limit=100", token=mint("viewer")).json()
        metrics = harness.get(METRICS, token=mint("viewer")).json()
        assert body["total"] == metrics["total"] == len(body["items"])
        assert _newest_first(body["items"])

    def test_q_is_a_case_insensitive_substring_of_query_or_response(
        self, harness: AppHarness
    ) -> None:
        by_query = harness.get(f"{FLAGS}?status=all&q=WEATHER", token=mint("viewer")).json()
        assert by_query["items"]
        assert all("weather" in item["user_query"].lower() for item in by_query["items"])
        by_reply = harness.get(f"{FLAGS}?status=all&q=backup_full", token=mint("viewer")).json()
        assert by_reply["items"]
        assert all("BACKUP_FULL" in item["agent_response"] for item in by_reply["items"])

    @pytest.mark.parametrize("q", ["%", "_", "\\", "a%b"])
    def test_q_wildcards_are_literal(self, harness: AppHarness, q: str) -> None:
        body = harness.get(
            FLAGS, params={"status": "all", "q": q, "limit": 100}, token=mint("viewer")
        ).json()
        assert body["total"] == len(body["items"])
        assert all(q in item["user_query"] + item["agent_response"] for item in body["items"])
        if q != "_":  # seeded responses name jobs like ETL_LOAD_014
            assert body["total"] == 0

    def test_pagination(self, harness: AppHarness) -> None:
        everything = harness.get(f"{FLAGS}?status=all&limit=100", token=mint("viewer")).json()
        page = harness.get(f"{FLAGS}?status=all&limit=5&offset=3", token=mint("viewer")).json()
        assert page["items"] == everything["items"][3:8]
        assert (page["limit"], page["offset"], page["total"]) == (5, 3, everything["total"])

    @pytest.mark.parametrize(
        ("query", "expected", "message"),
        [
            pytest.param(
                "?status=open",
                [("status", "invalid_choice")],
                "Must be one of: pending, approved, rejected, all.",
                id="status",
            ),
            pytest.param(
                "?q=" + "x" * 201, [("q", "too_long")], "Must be at most 200 characters.", id="q"
            ),
            pytest.param(
                "?status=x&limit=0",
                [("status", "invalid_choice"), ("limit", "out_of_range")],
                "Must be one of: pending, approved, rejected, all.",
                id="several",
            ),
        ],
    )
    def test_bad_queries_are_400(
        self, harness: AppHarness, query: str, expected: list[tuple[str, str]], message: str
    ) -> None:
        response = harness.get(FLAGS + query, token=mint("viewer"))
        assert field_errors(response) == expected
        assert response.json()["errors"][0]["message"] == message


class TestReview:
    def test_approve_then_again_is_409(self, harness: AppHarness, module_database_url: str) -> None:
        response = harness.post(
            REVIEW, token=mint("operator"), json={"memory_id": "seed-0001", "action": "approve"}
        )
        assert response.status_code == 200
        item = response.json()
        assert list(item) == KEYS
        assert (item["status"], item["reviewed_by"]) == ("approved", "operator")
        assert item["reviewed_at"].endswith("Z")
        before = snapshot(module_database_url)
        again = harness.post(
            REVIEW, token=mint("admin"), json={"memory_id": "seed-0001", "action": "reject"}
        )
        assert_problem(again, 409, "conflict", "Audit item seed-0001 is already approved.")
        assert snapshot(module_database_url) == before

    def test_reject(self, harness: AppHarness) -> None:
        item = harness.post(
            REVIEW, token=mint("admin"), json={"memory_id": "seed-0003", "action": "reject"}
        ).json()
        assert (item["status"], item["reviewed_by"]) == ("rejected", "admin")

    def test_unknown_item_is_404(self, harness: AppHarness, module_database_url: str) -> None:
        before = snapshot(module_database_url)
        response = harness.post(
            REVIEW, token=mint("operator"), json={"memory_id": "nope", "action": "approve"}
        )
        assert_problem(response, 404, "not-found", "Audit item nope not found.")
        assert snapshot(module_database_url) == before

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            pytest.param({}, [("memory_id", "missing"), ("action", "missing")], id="nothing"),
            pytest.param(
                {"memory_id": 7, "action": "maybe"},
                [("memory_id", "invalid_type"), ("action", "invalid_choice")],
                id="bad",
            ),
            pytest.param(
                {"memory_id": "seed-0002", "action": "APPROVE"},
                [("action", "invalid_choice")],
                id="case matters",
            ),
        ],
    )
    def test_invalid_bodies_are_400_and_change_nothing(
        self,
        harness: AppHarness,
        module_database_url: str,
        body: dict[str, Any],
        expected: list[tuple[str, str]],
    ) -> None:
        before = snapshot(module_database_url)
        assert field_errors(harness.post(REVIEW, token=mint("operator"), json=body)) == expected
        assert snapshot(module_database_url) == before


def test_metrics_count_each_state(harness: AppHarness, module_database_url: str) -> None:
    body = harness.get(METRICS, token=mint("viewer")).json()
    assert list(body) == ["pending", "approved", "rejected", "total"]
    counts = dict(
        execute(module_database_url, "SELECT status, count(*) FROM audit_items GROUP BY status")
    )
    assert body == {
        "pending": counts.get("pending", 0),
        "approved": counts.get("approved", 0),
        "rejected": counts.get("rejected", 0),
        "total": sum(counts.values()),
    }


class TestExport:
    @pytest.fixture
    def small_batches(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(audit_routes, "EXPORT_BATCH", 7)

    def test_ndjson_streams_every_item_in_batches(
        self, harness: AppHarness, small_batches: None, module_database_url: str
    ) -> None:
        start, chunks = harness.raw_get(EXPORT, token=mint("admin"))
        headers = {name.decode(): value.decode() for name, value in start["headers"]}
        assert start["status"] == 200
        assert headers["content-type"] == "application/x-ndjson"
        assert headers["content-disposition"] == 'attachment; filename="audit-export.ndjson"'
        assert "content-length" not in headers
        total = execute(module_database_url, "SELECT count(*) FROM audit_items")[0][0]
        assert len(chunks) >= -(-total // 7)  # one chunk per batch at least
        body = b"".join(chunks)
        assert body.endswith(b"\n")
        items = [json.loads(line) for line in body.decode().splitlines()]
        assert len(items) == total
        assert [item["id"] for item in items] == sorted(item["id"] for item in items)
        assert list(items[0]) == KEYS
        flags = harness.get(f"{FLAGS}?status=all&limit=100", token=mint("viewer")).json()["items"]
        assert sorted(items, key=lambda item: item["id"]) == sorted(flags, key=lambda i: i["id"])
        first = body.split(b"\n", 1)[0]
        compact = json.dumps(json.loads(first), separators=(",", ":"), ensure_ascii=False)
        assert first == compact.encode()

    def test_csv_has_a_header_and_empty_cells_for_null(
        self, harness: AppHarness, small_batches: None
    ) -> None:
        start, chunks = harness.raw_get(f"{EXPORT}?format=csv", token=mint("admin"))
        headers = {name.decode(): value.decode() for name, value in start["headers"]}
        assert headers["content-type"] == "text/csv; charset=utf-8"
        assert headers["content-disposition"] == 'attachment; filename="audit-export.csv"'
        assert len(chunks) > 2  # the header row, then one chunk per batch
        text = b"".join(chunks).decode()
        assert "\r\n" in text
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == KEYS
        pending = [row for row in rows[1:] if row[KEYS.index("status")] == "pending"]
        assert pending and all(row[KEYS.index("reviewed_by")] == "" for row in pending)
        assert all(row[KEYS.index("created_at")].endswith("Z") for row in rows[1:])

    def test_unknown_format_is_400(self, harness: AppHarness) -> None:
        response = harness.get(f"{EXPORT}?format=xml", token=mint("admin"))
        assert field_errors(response) == [("format", "invalid_choice")]
        assert response.json()["errors"][0]["message"] == "Must be one of: ndjson, csv."
