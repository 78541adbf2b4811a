"""The mismatch store: bounded, newest first, shared through SQLite, and never holding a secret."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from proxy.shadow.capture import CapturedResponse
from proxy.shadow.comparator import compare_responses
from proxy.shadow.mismatches import MismatchStore, build_record
from proxy.shadow.redaction import REDACTED, redact_headers, redact_json, redact_query, redact_text
from proxy.shadow.rules import load_rules

# Secrets planted in a request and both answers; none may appear in a stored record.
PASSWORD = "hunter2-correct-horse"
ACCESS = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiIsInJvbGUiOiJhZG1pbiJ9.c2VjcmV0LXNpZ25hdHVyZQ"
REFRESH = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiIsInR5cCI6InJlZnJlc2gifQ.b3RoZXItc2lnbmF0dXJl"
COOKIE = "session=cookie-secret-value"
DRY_RUN_KEY = "dry-run-key-secret"
SECRETS = [PASSWORD, ACCESS, REFRESH, "cookie-secret-value", DRY_RUN_KEY, "query-token-secret"]


def json_response(
    body: Any, *, status: int = 200, headers: Sequence[tuple[bytes, bytes]] = ()
) -> CapturedResponse:
    return CapturedResponse(
        status=status,
        headers=[(b"content-type", b"application/json"), *headers],
        body=json.dumps(body, separators=(",", ":")).encode(),
    )


def secret_scope(
    method: str = "POST",
    path: str = "/api/v1/auth/login",
    content_type: bytes = b"application/json",
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"limit=5&token=query-token-secret",
        "headers": [
            (b"authorization", f"Bearer {ACCESS}".encode()),
            (b"cookie", COOKIE.encode()),
            (b"x-resync-dry-run", DRY_RUN_KEY.encode()),
            (b"content-type", content_type),
            (b"x-request-id", b"req-1"),
        ],
    }


def secret_record(route: str = "POST /api/v1/auth/login", **overrides: Any) -> dict[str, Any]:
    primary = json_response(
        {
            "access_token": ACCESS,
            "refresh_token": REFRESH,
            "token_type": "bearer",
            "expires_in": 1800,
        },
        headers=[(b"set-cookie", COOKIE.encode())],
    )
    candidate = json_response(
        {
            "access_token": REFRESH,
            "refresh_token": ACCESS,
            "token_type": "Bearer",
            "expires_in": 1800,
        },
        headers=[(b"set-cookie", COOKIE.encode())],
    )
    comparison = compare_responses(primary, candidate, load_rules().for_route(route))
    arguments: dict[str, Any] = {
        "route": route,
        "primary_side": "legacy",
        "candidate_side": "new",
        "scope": secret_scope(),
        "request_body": json.dumps({"username": "admin", "password": PASSWORD}).encode(),
        "primary": primary,
        "candidate": candidate,
        "comparison": comparison,
    }
    arguments.update(overrides)
    return build_record(**arguments)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MismatchStore:
    if request.param == "memory":
        return MismatchStore(limit=5)
    return MismatchStore(limit=5, path=tmp_path / "var" / "strangler-mismatches.db")


def test_record_keeps_what_an_operator_needs(store: MismatchStore) -> None:
    stored = store.add(secret_record())

    assert stored["id"] is not None
    assert stored["route"] == "POST /api/v1/auth/login"
    assert stored["result"] == "mismatch"
    assert stored["primary_side"] == "legacy" and stored["candidate_side"] == "new"
    assert stored["request"]["method"] == "POST"
    assert stored["request"]["path"] == "/api/v1/auth/login"
    assert ["x-request-id", "req-1"] in stored["request"]["headers"]
    assert stored["request"]["body"]["value"]["username"] == "admin"
    assert stored["primary"]["status"] == 200
    assert stored["candidate"]["body"]["value"]["token_type"] == "Bearer"
    assert "body /token_type" in stored["diff"]
    assert {d["path"] for d in stored["differences"]} >= {"/token_type"}
    assert store.get(stored["id"]) == stored


def test_no_secret_reaches_a_stored_record(store: MismatchStore) -> None:
    stored = store.add(secret_record())
    listed = store.list()

    for text in (json.dumps(stored), json.dumps(listed)):
        for secret in SECRETS:
            assert secret not in text, secret
    headers = dict(map(tuple, stored["request"]["headers"]))
    assert headers["authorization"] == REDACTED
    assert headers["cookie"] == REDACTED
    assert headers["x-resync-dry-run"] == REDACTED
    assert dict(map(tuple, stored["primary"]["headers"]))["set-cookie"] == REDACTED
    assert stored["request"]["body"]["value"]["password"] == REDACTED
    assert stored["primary"]["body"]["value"]["access_token"] == REDACTED
    assert stored["request"]["query"] == f"limit=5&token={REDACTED}"


def test_no_secret_in_the_raw_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    MismatchStore(limit=5, path=path).add(secret_record())

    with sqlite3.connect(path) as conn:
        dump = "\n".join(conn.iterdump())
    assert "strangler_mismatches" in dump
    for secret in SECRETS:
        assert secret not in dump, secret


def test_secrets_in_form_text_and_error_records_are_redacted(store: MismatchStore) -> None:
    form = secret_record(
        scope=secret_scope(content_type=b"application/x-www-form-urlencoded"),
        request_body=f"username=admin&password={PASSWORD}&grant_type=password".encode(),
    )
    text_answer = CapturedResponse(
        200, [(b"content-type", b"text/plain")], f"token is {ACCESS}\nBearer {REFRESH}".encode()
    )
    error = secret_record(
        primary=text_answer,
        candidate=None,
        comparison=None,
        error=f"RuntimeError: could not use password={PASSWORD} with {ACCESS}",
    )

    for record in (store.add(form), store.add(error)):
        dumped = json.dumps(record)
        for secret in SECRETS:
            assert secret not in dumped, secret
    assert store.list(limit=1)[0]["result"] == "error"
    assert store.list(limit=1)[0]["candidate"] is None


def test_multipart_bodies_are_not_stored(store: MismatchStore) -> None:
    body = (
        b"--b\r\nContent-Disposition: form-data; name=file; filename=a.txt\r\n\r\nprivate\r\n--b--"
    )
    stored = store.add(
        secret_record(
            scope=secret_scope(content_type=b"multipart/form-data; boundary=b"), request_body=body
        )
    )
    view = stored["request"]["body"]
    assert view["kind"] == "omitted" and view["size"] == len(body) and len(view["sha256"]) == 64
    assert "private" not in json.dumps(stored)


def test_store_is_bounded_and_lists_newest_first(store: MismatchStore) -> None:
    for n in range(8):
        store.add(secret_record(route=f"GET /r{n % 2}"))

    records = store.list(limit=100)
    assert len(records) == 5 == store.count()
    ids = [r["id"] for r in records]
    assert ids == sorted(ids, reverse=True)
    assert [r["route"] for r in store.list(route="GET /r1")] == ["GET /r1"] * 3
    assert store.count(route="GET /r0") == 2
    assert [r["id"] for r in store.list(limit=2, offset=1)] == ids[1:3]
    store.clear()
    assert store.list() == [] and store.count() == 0


def test_sqlite_store_is_shared_between_processes_opening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    writer, reader = MismatchStore(limit=3, path=path), MismatchStore(limit=3, path=path)
    for _ in range(4):
        writer.add(secret_record())
    assert reader.count() == 3
    assert reader.get(1) is None  # trimmed
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM strangler_mismatches").fetchone()[0] == 3


def test_hand_built_records_are_redacted_too() -> None:
    store = MismatchStore()
    stored = store.add({"route": "GET /x", "request": {"body": {"value": {"password": PASSWORD}}}})
    assert PASSWORD not in json.dumps(stored)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            {"password": "x", "user": "u"}, {"password": REDACTED, "user": "u"}, id="password"
        ),
        pytest.param({"new-password": "x"}, {"new-password": REDACTED}, id="dashed-name"),
        pytest.param(
            {"nested": [{"refresh_token": "x"}]},
            {"nested": [{"refresh_token": REDACTED}]},
            id="nested",
        ),
        pytest.param({"token_type": "bearer"}, {"token_type": "bearer"}, id="token-type-kept"),
        pytest.param({"password": None}, {"password": None}, id="absent-stays-null"),
        pytest.param({"note": f"see {ACCESS}"}, {"note": f"see {REDACTED}"}, id="jwt-in-text"),
    ],
)
def test_redact_json(value: Any, expected: Any) -> None:
    assert redact_json(value) == expected


def test_redact_helpers() -> None:
    assert redact_headers([(b"Authorization", b"Basic dXNlcjpwYXNz"), (b"Accept", b"*/*")]) == [
        ["authorization", REDACTED],
        ["accept", "*/*"],
    ]
    assert redact_query("q=a&access_token=zzz") == f"q=a&access_token={REDACTED}"
    assert redact_text("Authorization: Bearer abc.def") == f"Authorization: Bearer {REDACTED}"
    assert redact_text("user=a&password=x&y=1") == f"user=a&password={REDACTED}&y=1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            '{"username": "a", "password": "hunter2"}',
            f'{{"username": "a", "password": "{REDACTED}"}}',
            id="json-member-in-text",
        ),
        pytest.param(
            'echo: {"refresh_token":"r\\"x","token_type":"bearer"}',
            f'echo: {{"refresh_token":"{REDACTED}","token_type":"bearer"}}',
            id="escaped-quote-and-harmless-neighbour",
        ),
        pytest.param('{"PassWord" : ""}', f'{{"PassWord" : "{REDACTED}"}}', id="any-case-empty"),
        pytest.param('{"name": "password"}', '{"name": "password"}', id="word-as-a-value"),
    ],
)
def test_redact_text_json_members(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_redact_json_string_holding_json() -> None:
    body = {"detail": '{"username": "a", "password": "hunter2"}'}
    assert "hunter2" not in str(redact_json(body))
