"""Read, review, count and export the audit queue."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.legacy_flask.harness import (
    assert_problem,
    auth,
    execute,
    execute_many,
    field_errors,
    query,
    snapshot,
)

ITEM_KEYS = [
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


def flags(client: FlaskClient, params: str = "") -> dict[str, Any]:
    response = client.get(f"/api/v1/audit/flags?{params}", headers=auth("viewer"))
    assert response.status_code == 200, response.get_data(as_text=True)
    return dict(response.get_json())


_INSERT = (
    "INSERT INTO audit_items (memory_id, agent_id, user_query, agent_response, reason,"
    " confidence, status, created_at) VALUES (:m, 'tws-general', :q, 'r', 'why', 0.5, :s,"
    " '2020-01-01 00:00:00')"
)


def _add_item(db_path: str, memory_id: str, query_text: str, status: str = "pending") -> None:
    execute(db_path, _INSERT, m=memory_id, q=query_text, s=status)


def test_flags_default_to_pending_newest_first(client: FlaskClient, db_path: str) -> None:
    body = flags(client)
    pending = query(db_path, "SELECT count(*) AS n FROM audit_items WHERE status = 'pending'")[0].n
    assert body["total"] == pending
    assert all(item["status"] == "pending" for item in body["items"])
    assert all(list(item) == ITEM_KEYS for item in body["items"])
    keys = [(item["created_at"], item["id"]) for item in body["items"]]
    assert keys == sorted(keys, reverse=True)


@pytest.mark.parametrize("status", ["approved", "rejected"])
def test_flags_by_status(client: FlaskClient, status: str) -> None:
    body = flags(client, f"status={status}&limit=100")
    assert body["items"] and all(item["status"] == status for item in body["items"])
    assert all(item["reviewed_by"] == "admin" for item in body["items"])
    assert all(item["reviewed_at"].endswith("Z") for item in body["items"])


def test_flags_all_and_pagination(client: FlaskClient) -> None:
    everything = flags(client, "status=all&limit=100")
    assert everything["total"] == len(everything["items"])
    page = flags(client, "status=all&limit=7&offset=7")
    assert page["items"] == everything["items"][7:14]
    assert page["total"] == everything["total"]
    assert flags(client, "status=all&offset=10000")["items"] == []


def test_flags_q_is_a_case_insensitive_substring(client: FlaskClient, db_path: str) -> None:
    _add_item(db_path, "q-1", "The Zebra_Stream 100% broke")
    _add_item(db_path, "q-2", "zebrastream")
    assert [i["memory_id"] for i in flags(client, "q=zEBRA")["items"]] == ["q-2", "q-1"]
    # LIKE wildcards in q are literal characters.
    assert [i["memory_id"] for i in flags(client, "q=a_s")["items"]] == ["q-1"]
    assert [i["memory_id"] for i in flags(client, "q=100%25")["items"]] == ["q-1"]
    # q matches the agent's response too.
    responses = flags(client, "status=all&q=PAYROLL_EXTRACT&limit=100")["items"]
    assert responses and all("PAYROLL_EXTRACT" in i["agent_response"] for i in responses)


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        pytest.param("status=open", [("status", "invalid_choice")], id="status"),
        pytest.param("q=" + "x" * 201, [("q", "too_long")], id="q-too-long"),
        pytest.param(
            "status=x&q=" + "y" * 201 + "&limit=0&offset=-1",
            [
                ("status", "invalid_choice"),
                ("q", "too_long"),
                ("limit", "out_of_range"),
                ("offset", "out_of_range"),
            ],
            id="all-in-order",
        ),
    ],
)
def test_flags_bad_query(client: FlaskClient, params: str, errors: list[tuple[str, str]]) -> None:
    response = client.get(f"/api/v1/audit/flags?{params}", headers=auth("viewer"))
    body = assert_problem(response, 400, "validation")
    assert field_errors(body) == errors
    if errors[0][0] == "status":
        assert body["errors"][0]["message"] == "Must be one of: pending, approved, rejected, all."


@pytest.mark.parametrize(("action", "status"), [("approve", "approved"), ("reject", "rejected")])
def test_review(client: FlaskClient, db_path: str, action: str, status: str) -> None:
    memory_id = f"review-{action}"
    _add_item(db_path, memory_id, "please review me")
    response = client.post(
        "/api/v1/audit/review",
        json={"memory_id": memory_id, "action": action},
        headers=auth("operator"),
    )
    assert response.status_code == 200
    item = response.get_json()
    assert list(item) == ITEM_KEYS
    assert item["status"] == status and item["reviewed_by"] == "operator"
    assert item["reviewed_at"].endswith("Z")
    again = client.post(
        "/api/v1/audit/review",
        json={"memory_id": memory_id, "action": "approve"},
        headers=auth("admin"),
    )
    assert_problem(again, 409, "conflict", f"Audit item {memory_id} is already {status}.")


def test_review_unknown_item_is_404(client: FlaskClient, db_path: str) -> None:
    before = snapshot(db_path)
    response = client.post(
        "/api/v1/audit/review",
        json={"memory_id": "nope", "action": "approve"},
        headers=auth("operator"),
    )
    assert_problem(response, 404, "not-found", "Audit item nope not found.")
    assert snapshot(db_path) == before


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        pytest.param({}, [("memory_id", "missing"), ("action", "missing")], id="empty"),
        pytest.param(
            {"memory_id": "seed-0001", "action": "delete"},
            [("action", "invalid_choice")],
            id="action",
        ),
        pytest.param(
            {"memory_id": 1, "action": 2},
            [("memory_id", "invalid_type"), ("action", "invalid_type")],
            id="types",
        ),
    ],
)
def test_review_validation_changes_nothing(
    client: FlaskClient, db_path: str, body: dict[str, Any], errors: list[tuple[str, str]]
) -> None:
    before = snapshot(db_path)
    response = client.post("/api/v1/audit/review", json=body, headers=auth("operator"))
    assert field_errors(assert_problem(response, 400, "validation")) == errors
    assert snapshot(db_path) == before


def test_metrics_count_each_status(client: FlaskClient, db_path: str) -> None:
    body = client.get("/api/v1/audit/metrics", headers=auth("viewer")).get_json()
    assert list(body) == ["pending", "approved", "rejected", "total"]
    rows = query(db_path, "SELECT status, count(*) AS n FROM audit_items GROUP BY status")
    counts = {row.status: row.n for row in rows}
    assert body == {
        **{s: counts.get(s, 0) for s in ("pending", "approved", "rejected")},
        "total": sum(counts.values()),
    }


def _all_items(db_path: str) -> list[Any]:
    return query(db_path, "SELECT * FROM audit_items ORDER BY id")


def test_export_ndjson_streams_every_item(client: FlaskClient, db_path: str) -> None:
    _add_item(db_path, "export-ünïcode", 'çava? "quoted", comma')
    response = client.get("/api/v1/audit/export", headers=auth("admin"), buffered=False)
    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["Content-Type"] == "application/x-ndjson"
    assert response.headers["Content-Disposition"] == 'attachment; filename="audit-export.ndjson"'
    text = response.get_data(as_text=True)
    response.close()
    assert text.endswith("\n")
    lines = text.split("\n")[:-1]
    items = [json.loads(line) for line in lines]
    assert [item["id"] for item in items] == [row.id for row in _all_items(db_path)]
    assert all(list(item) == ITEM_KEYS for item in items)
    assert "çava" in text  # raw UTF-8, compact separators
    assert lines[0].startswith('{"id":1,"memory_id":"seed-0001"')
    pending = next(item for item in items if item["status"] == "pending")
    assert pending["reviewed_at"] is None and pending["reviewed_by"] is None


def test_export_csv(client: FlaskClient, db_path: str) -> None:
    response = client.get("/api/v1/audit/export?format=csv", headers=auth("admin"), buffered=False)
    assert response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="audit-export.csv"'
    raw = response.get_data(as_text=True)
    response.close()
    assert raw.startswith(",".join(ITEM_KEYS) + "\r\n")
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    stored = _all_items(db_path)
    assert len(rows) == len(stored) + 1
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["memory_id"] == stored[0].memory_id
    assert first["confidence"] == str(stored[0].confidence)
    assert first["created_at"].endswith("Z")
    pending = next(dict(zip(rows[0], r, strict=True)) for r in rows[1:] if r[7] == "pending")
    assert pending["reviewed_at"] == "" and pending["reviewed_by"] == ""


def test_export_more_than_one_batch(client: FlaskClient, db_path: str) -> None:
    execute_many(
        db_path,
        _INSERT,
        [{"m": f"bulk-{n:04d}", "q": f"bulk {n}", "s": "pending"} for n in range(520)],
    )
    response = client.get("/api/v1/audit/export", headers=auth("admin"), buffered=False)
    chunks = list(response.response)
    response.close()  # one chunk per item: nothing built up in memory
    assert len(chunks) == len(_all_items(db_path))
    ids = [json.loads(chunk)["id"] for chunk in chunks]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_export_bad_format(client: FlaskClient) -> None:
    response = client.get("/api/v1/audit/export?format=xml", headers=auth("admin"))
    body = assert_problem(response, 400, "validation")
    assert field_errors(body) == [("format", "invalid_choice")]
    assert body["errors"][0]["message"] == "Must be one of: ndjson, csv."


def test_export_failure_mid_stream_is_logged_and_cuts_the_body(
    client: FlaskClient, db_path: str
) -> None:
    from sqlalchemy.exc import SQLAlchemyError
    from structlog.testing import capture_logs

    execute_many(
        db_path, _INSERT, [{"m": f"cut-{n:04d}", "q": "cut", "s": "pending"} for n in range(600)]
    )
    response = client.get(
        "/api/v1/audit/export", headers={**auth("admin"), "X-Request-ID": "cut-1"}, buffered=False
    )
    chunks = iter(response.response)
    assert json.loads(next(chunks))["id"] == 1  # the first batch is in hand
    execute(db_path, "ALTER TABLE audit_items RENAME TO audit_items_away")
    try:
        with capture_logs() as logs, pytest.raises(SQLAlchemyError):
            for _ in chunks:
                pass
    finally:
        execute(db_path, "ALTER TABLE audit_items_away RENAME TO audit_items")
        response.close()
    failures = [entry for entry in logs if entry["event"] == "export_failed"]
    assert len(failures) == 1 and failures[0]["request_id"] == "cut-1"


def test_concurrent_reviews_have_one_winner(client: FlaskClient, db_path: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    _add_item(db_path, "race-1", "two reviewers at once")
    app = client.application

    def review(action: str) -> int:
        response = app.test_client().post(
            "/api/v1/audit/review",
            json={"memory_id": "race-1", "action": action},
            headers=auth("operator"),
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(review, ["approve", "reject"] * 3))
    assert sorted(statuses) == [200, 409, 409, 409, 409, 409]
    row = query(db_path, "SELECT status, reviewed_by FROM audit_items WHERE memory_id = 'race-1'")
    assert row[0].status in {"approved", "rejected"} and row[0].reviewed_by == "operator"
