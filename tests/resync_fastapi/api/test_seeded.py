"""Exact answers on a pristine, freshly seeded database (the shared ``database_url`` fixture)."""

from __future__ import annotations

from pathlib import Path

from tests.resync_fastapi.harness import AppHarness, mint

RUNBOOKS = Path(__file__).resolve().parents[3] / "migrations" / "seed_data" / "runbooks"


def test_a_fresh_database_answers_with_the_seeded_data(fresh_harness: AppHarness) -> None:
    viewer = mint("viewer")
    assert fresh_harness.get("/api/v1/audit/metrics", token=viewer).json() == {
        "pending": 14,
        "approved": 9,
        "rejected": 7,
        "total": 30,
    }
    pending = fresh_harness.get("/api/v1/audit/flags?limit=3", token=viewer).json()
    assert [item["memory_id"] for item in pending["items"]] == [
        "seed-0014",
        "seed-0013",
        "seed-0012",
    ]
    assert pending["total"] == 14
    files = fresh_harness.get("/api/v1/rag/files", token=viewer).json()
    assert sorted(item["filename"] for item in files["items"]) == sorted(
        path.name for path in RUNBOOKS.glob("*.md")
    )
    users = fresh_harness.get("/api/v1/users", token=mint("admin")).json()
    assert [(user["id"], user["username"], user["role"]) for user in users["items"]] == [
        (1, "admin", "admin"),
        (2, "operator", "operator"),
        (3, "viewer", "viewer"),
    ]
    history = fresh_harness.get("/api/v1/chat/history", token=viewer).json()
    assert history == {"items": [], "total": 0, "limit": 50, "offset": 0}
    # The seeded demo passwords log in (a real argon2 verification).
    response = fresh_harness.post(
        "/api/v1/auth/login", json={"username": "operator", "password": "resync-operator-dev"}
    )
    assert response.status_code == 200
    token = response.json()["access_token"]
    assert fresh_harness.get("/api/v1/auth/me", token=token).json()["id"] == 2
