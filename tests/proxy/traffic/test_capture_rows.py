"""The capture writer's fast path: each distinct exchange is redacted and stored once, as a part.

What a row and its part stand for must be exactly the record build_capture makes of the
exchange (the reference), on real SQLite and real PostgreSQL; the cache must never let a secret
through, never hold one, and stay bounded; parts go when no row needs them.
"""

from __future__ import annotations

import json
import random
import sqlite3
import string
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proxy.shadow.capture import CapturedResponse
from proxy.traffic import recorder as recorder_module
from proxy.traffic import records
from proxy.traffic.policy import CapturePolicy
from proxy.traffic.recorder import TrafficRecorder
from proxy.traffic.records import (
    CaptureRows,
    Exchange,
    PreparedCapture,
    build_capture,
    decode_body,
)
from proxy.traffic.store import PARTS_SWEEP, CaptureStore, SQLiteCaptureStore, open_capture_store
from tests.services import create_postgres_database, drop_postgres_database

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsInJvbGUiOiJhZG1pbiJ9."
    "c2lnbmF0dXJlLXBhcnQtb2YtdGhlLXRva2Vu"
)
AGENTS = b'{"items":[{"id":"tws-general","name":"TWS General Assistant"}],"total":1}'
ROLES = {"tok-operator": "operator", "tok-viewer": "viewer"}


def role_of(token: str) -> str | None:
    return ROLES.get(token)


def exchange(
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    body: bytes = b"",
    path: bytes = b"/api/v1/agents",
    query: bytes = b"",
    answer: bytes = AGENTS,
    answer_headers: list[tuple[bytes, bytes]] | None = None,
    at: float = 1796230866.25,
    method: str = "GET",
) -> Exchange:
    return Exchange(
        at=at,
        route=f"{method} /api/v1/agents",
        side="new",
        method=method,
        raw_path=path,
        query_string=query,
        headers=headers if headers is not None else [(b"host", b"h")],
        body=body,
        response=CapturedResponse(
            200,
            answer_headers
            if answer_headers is not None
            else [(b"content-type", b"application/json")],
            answer,
        ),
        body_limit=65536,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CaptureStore]:
    if request.param == "sqlite":
        opened = open_capture_store(f"sqlite:///{tmp_path / 'capture.db'}")
        yield opened
        opened.close()
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    url = create_postgres_database(admin_url)  # a uniquely named database
    opened = open_capture_store(url)
    try:
        yield opened
    finally:
        opened.close()
        drop_postgres_database(admin_url, url)


def _random_exchange(rng: random.Random, n: int) -> Exchange:
    """An exchange of the kinds clients send: repeated mostly, with secrets here and there."""
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"locust/2.0")]
    if rng.random() < 0.7:
        headers.append((b"authorization", rng.choice([b"Bearer tok-operator", b"Bearer tok-x"])))
    if rng.random() < 0.2:
        headers.append((b"cookie", b"sid=cookie-secret-%d" % n))
    if rng.random() < 0.2:
        headers.append((b"x-note", rng.choice([b"plain", f"see {JWT}".encode()])))
    request_id = rng.choice(
        [b"%032x" % rng.getrandbits(128), b"not-hex-id-%d" % n, f"id-{JWT}".encode()]
    )
    headers.insert(rng.randrange(len(headers) + 1), (b"x-request-id", request_id))
    if rng.random() < 0.1:
        headers.append((b"x-request-id", b"%08x" % n))  # a second one
    answer_headers = [(b"content-type", b"application/json"), (b"x-request-id", request_id)]
    rng.shuffle(answer_headers)
    answer = rng.choice(
        [AGENTS, AGENTS, b'{"access_token": "answer-secret-%d"}' % n, b"\xff\xfe binary"]
    )
    body = rng.choice([b"", b"", b'{"password": "body-secret-%d"}' % n, b'{"n": 1}'])
    query = rng.choice([b"", b"", b"page=2", b"token=query-secret-%d" % n])
    return exchange(
        headers,
        body=body,
        query=query,
        answer=answer,
        answer_headers=answer_headers,
        at=1796230866.25 + n * 0.013,
        method="POST" if body else "GET",
    )


def test_a_row_and_its_part_stand_for_exactly_the_record_build_capture_makes(
    store: CaptureStore,
) -> None:
    rng = random.Random(15)
    rows = CaptureRows(role_of)
    exchanges = [_random_exchange(rng, n) for n in range(400)]

    prepared = [rows.prepare(e) for e in exchanges]
    ids = store.add_many(prepared)

    assert sum(type(p) is PreparedCapture for p in prepared) > 60  # the fast path is taken
    stored = {r["id"]: r for r in store.list(limit=1000)}
    for record_id, exchange_ in zip(ids, exchanges, strict=True):
        expected = {**build_capture(exchange_, role_of), "id": record_id}
        assert stored[record_id] == expected
    text = json.dumps(list(stored.values()))
    for secret in ("cookie-secret", "answer-secret", "body-secret", "query-secret", JWT):
        assert secret not in text


def test_identical_answers_are_stored_once_and_replayed_byte_identical(tmp_path: Path) -> None:
    store = open_capture_store(f"sqlite:///{tmp_path / 'c.db'}")
    rows = CaptureRows(role_of)
    binary = bytes(range(256))
    try:
        batch = []
        for n in range(300):
            headers = [(b"authorization", b"Bearer tok-operator"), (b"x-request-id", b"%032x" % n)]
            answer = AGENTS if n % 2 else binary
            batch.append(rows.prepare(exchange(headers, answer=answer, at=time.time())))
        store.add_many(batch)

        kept = store.list(limit=1000)
        assert [decode_body(r["response"]["body"]) for r in kept] == [
            AGENTS if n % 2 else binary for n in range(300)
        ]
        assert [r["request"]["headers"][1] for r in kept] == [
            ["x-request-id", f"{n:032x}"] for n in range(300)
        ]
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "c.db") as conn:
        assert conn.execute("SELECT count(*) FROM strangler_capture_parts").fetchone()[0] == 2
        longest = conn.execute("SELECT max(length(record)) FROM strangler_captures").fetchone()[0]
    conn.close()
    assert longest < 64  # a row is its ids: the answer is in the part


def test_a_header_set_cached_clean_is_still_redacted_when_a_token_appears() -> None:
    rows = CaptureRows(role_of)
    clean = [(b"x-note", b"plain words"), (b"x-request-id", b"ab12")]
    tainted = [(b"x-note", f"see {JWT}".encode()), (b"x-request-id", b"ab12")]

    first = rows.prepare(exchange(clean))
    second = rows.prepare(exchange(tainted))
    third = rows.prepare(exchange(clean))

    assert isinstance(first, PreparedCapture) and isinstance(third, PreparedCapture)
    assert third.part == first.part
    assert isinstance(second, dict)  # redacted: built whole, not cached
    assert JWT not in json.dumps(second)
    assert second["request"]["headers"][0] == ["x-note", "see [REDACTED]"]
    assert len(rows) == 1 and JWT.encode() not in repr(rows._known).encode()


def test_a_request_id_that_is_not_hex_stays_in_the_part_and_is_redacted() -> None:
    rows = CaptureRows(role_of)

    prepared = rows.prepare(exchange([(b"x-request-id", f"id-{JWT}".encode())]))

    assert isinstance(prepared, dict) and JWT not in json.dumps(prepared)
    plain = rows.prepare(exchange([(b"x-request-id", b"req-77")]))
    assert isinstance(plain, PreparedCapture) and plain.extra == "[]"
    assert "req-77" in plain.part_text


def test_no_redaction_rule_can_change_a_hex_request_id() -> None:
    # Why a hex id may skip the scan: every marker holds a character no hex id has.
    for marker in (*records._TEXT_MARKERS, *records._TEXT_SHORT_WORDS):
        assert set(marker) - set(string.hexdigits.lower() + "-"), marker
    rng = random.Random(16)
    for _ in range(2000):
        value = "".join(rng.choice("0123456789abcdefABCDEF-") for _ in range(rng.randint(1, 64)))
        assert records._clean_text(value) == value


def test_credentials_never_enter_the_cache_and_the_role_is_the_callers() -> None:
    rows = CaptureRows(role_of)
    headers = [(b"authorization", b"Bearer tok-operator"), (b"cookie", b"sid=cookie-secret-9")]

    operator = rows.prepare(exchange(headers))
    viewer = rows.prepare(exchange([(b"authorization", b"Bearer tok-viewer"), headers[1]]))

    assert isinstance(operator, PreparedCapture) and isinstance(viewer, PreparedCapture)
    assert operator.part != viewer.part
    assert '"role":"operator"' in operator.part_text and '"role":"viewer"' in viewer.part_text
    known = repr(rows._known)
    assert "tok-operator" not in known and "cookie-secret-9" not in known


def test_the_cache_stays_bounded_and_keeps_no_long_body() -> None:
    rows = CaptureRows(role_of, size=50, longest=1024)
    for n in range(500):
        rows.prepare(exchange(path=b"/api/v1/agents/%d" % n))
        assert len(rows) <= 50
    small = CaptureRows(role_of, size=1000, budget=5000)
    for n in range(100):
        small.prepare(exchange(path=b"/api/v1/agents/%d" % n))
        assert small.held <= 5000
    assert 0 < len(small) < 100
    long_answer = b'{"x": "%s"}' % (b"y" * 2000)
    prepared = rows.prepare(exchange(answer=long_answer))
    assert isinstance(prepared, dict)
    assert decode_body(prepared["response"]["body"]) == long_answer


def test_prepared_rows_are_bounded_by_count_and_age_and_unused_parts_go(
    store: CaptureStore,
) -> None:
    rows = CaptureRows(role_of)
    store.max_records = 5
    for n in range(PARTS_SWEEP):
        store.add_many(
            [rows.prepare(exchange(path=b"/a/%d" % n, at=time.time())), {"route": "GET /x"}]
        )
    assert store.count() == 5  # the newest five rows: three plain records, two prepared
    kept = store.list()
    assert [r["request"]["path"] for r in kept if r.get("request")] == [
        f"/a/{n}" for n in range(PARTS_SWEEP - 2, PARTS_SWEEP)
    ]
    assert _parts(store) == 2  # swept at the PARTS_SWEEP-th write: only the kept rows' parts

    store.max_age = 0.5
    time.sleep(0.6)
    assert store.count() == 0 and store.routes() == {}  # expired: not read, even before a sweep
    store.add_many([rows.prepare(exchange(path=b"/new", at=time.time()))])
    assert [r["request"]["path"] for r in store.list()] == ["/new"]
    assert store.count() == 1
    assert store.clear() == 1 and _parts(store) == 0


def _parts(store: CaptureStore) -> int:
    return int(store._fetch("SELECT count(*) FROM strangler_capture_parts")[0][0])


def test_a_row_whose_ids_are_not_ids_is_stored_without_them(store: CaptureStore) -> None:
    rows = CaptureRows(role_of)
    prepared = rows.prepare(exchange([(b"x-request-id", b"ab12")]))
    assert isinstance(prepared, PreparedCapture)
    forged = prepared._replace(extra='[[0,0,"ab12"],[0,1,"password=pw-forged-1"]]')
    planted = prepared._replace(
        part="f" * 32, part_text=prepared.part_text.replace('"side"', '"password":"pw-2","side"')
    )

    first, second = store.add_many([forged, planted])

    assert store.get(first)["request"]["headers"] == []  # the forged ids are not kept
    assert store.get(second)["password"] == "[REDACTED]"
    assert "pw-forged-1" not in json.dumps(store.list()) and "pw-2" not in json.dumps(store.list())


def test_a_table_from_before_parts_is_read_and_written(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old: dict[str, Any] = {"route": "GET /old", "at": "2026-12-02T00:00:00.000Z", "n": 1}
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE strangler_captures (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " at REAL NOT NULL, route TEXT NOT NULL, record TEXT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO strangler_captures (at, route, record) VALUES (?, ?, ?)",
            (time.time(), "GET /old", json.dumps(old)),
        )
    conn.close()
    store = open_capture_store(f"sqlite:///{path}")
    try:
        (new_id,) = store.add_many([CaptureRows(role_of).prepare(exchange())])

        assert store.list()[0] == {**old, "id": 1}
        assert store.get(new_id)["route"] == "GET /api/v1/agents"
    finally:
        store.close()


def test_an_idle_writer_wakes_for_the_next_exchange_and_for_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder_module, "_IDLE_WAIT", 60.0)  # only a wake-up can end the wait
    recorder = TrafficRecorder(
        CapturePolicy.from_mapping({"defaults": {"sample_rate": 1.0}}),
        SQLiteCaptureStore(tmp_path / "c.db"),
        role_of=role_of,
        linger=0.01,
    )
    scope = {"method": "GET", "path": "/a", "raw_path": b"/a", "query_string": b""}
    answer = CapturedResponse(200, [(b"content-type", b"text/plain")], b"ok")
    for _ in range(2):
        assert recorder.submit("GET /a", "new", scope, [(b"host", b"h")], b"", answer, 1024)
        assert recorder.flush(10)
        time.sleep(0.2)  # the writer waits idle now
    assert recorder.counts["stored"] == 2
    thread = recorder._thread
    began = time.monotonic()
    recorder.close()
    assert thread is not None and not thread.is_alive() and time.monotonic() - began < 5


@pytest.mark.parametrize("default_rate", [0.0, 1.0])
def test_sampling_follows_the_policy_route_by_route(tmp_path: Path, default_rate: float) -> None:
    policy = CapturePolicy.from_mapping(
        {
            "defaults": {"sample_rate": default_rate},
            "routes": {"GET /on": {"sample_rate": 1.0}, "GET /off": {"sample_rate": 0.0}},
        }
    )
    recorder = TrafficRecorder(policy, SQLiteCaptureStore(tmp_path / "c.db"))
    try:
        for route in ("GET /on", "GET /off", "GET /other", None):
            assert recorder.sample(route) == policy.for_route(route), route
    finally:
        recorder.close()


def _teed(answer_headers: list[tuple[bytes, bytes]], answer: bytes, rng: random.Random) -> Any:
    """The tee's recorder after an app sent ``answer`` in one to three body messages."""
    from proxy.shadow.capture import ResponseRecorder

    tee = ResponseRecorder(limit=rng.choice([65536, 8]))
    names = [k.upper() if rng.random() < 0.3 else k for k, _ in answer_headers]
    sent = [(name, value) for name, (_, value) in zip(names, answer_headers, strict=True)]
    tee.record({"type": "http.response.start", "status": 200, "headers": sent})
    sent.append((b"x-late", b"changed after the start"))  # the app's list changes later
    cuts = sorted(rng.sample(range(len(answer) + 1), rng.choice([0, 1, 2])))
    pieces = [answer[a:b] for a, b in zip([0, *cuts], [*cuts, len(answer)], strict=True)]
    for n, piece in enumerate(pieces):
        chunk = bytearray(piece) if rng.random() < 0.2 else piece
        tee.record({"type": "http.response.body", "body": chunk, "more_body": n < len(pieces) - 1})
    return tee


def test_the_writer_stores_a_tees_uncopied_answer_exactly_as_its_copy(tmp_path: Path) -> None:
    # The request path queues the tee's recorder itself; the writer keys and redacts the pairs
    # as the app sent them (names in any case, chunks as sent). What it stores must be the
    # reference record of the recorder's copy (captured()), secrets redacted, in a real file.
    rng = random.Random(1515)
    path = tmp_path / "capture.db"
    recorder = TrafficRecorder(
        CapturePolicy.from_mapping({"defaults": {"sample_rate": 1.0}}),
        SQLiteCaptureStore(path),
        queue_size=1000,
        role_of=role_of,
    )
    expected = []
    try:
        for n in range(300):
            base = _random_exchange(rng, n)
            tee = _teed(list(base.response.headers), base.response.body, rng)
            scope = {
                "method": base.method, "path": "/api/v1/agents",
                "raw_path": base.raw_path, "query_string": base.query_string,
            }  # fmt: skip
            assert recorder.submit(
                base.route, base.side, scope, base.headers, base.body, tee, base.body_limit
            )
            expected.append((base, tee.captured()))
        assert recorder.flush(30)
        assert recorder.counts["stored"] == 300 and recorder.counts["error"] == 0
        stored = recorder.store.list(limit=1000)
    finally:
        recorder.close()
    for record, (base, copy) in zip(stored, expected, strict=True):
        reference = build_capture(base._replace(response=copy), role_of)
        reference["at"] = record["at"]  # the time is the submit's
        assert {k: v for k, v in record.items() if k != "id"} == reference
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for secret in (b"cookie-secret", b"answer-secret", b"body-secret", b"query-secret"):
        assert secret not in raw
    assert JWT.encode() not in raw and b"changed after the start" not in raw


def test_the_authorization_value_is_parsed_once_and_the_role_asked_every_time() -> None:
    asked: list[str] = []
    roles = {"tok-operator": "operator"}

    def changing_role_of(token: str) -> str | None:
        asked.append(token)
        return roles.get(token)

    rows = CaptureRows(changing_role_of)
    values: list[list[bytes] | None] = [
        None, [b"Bearer tok-operator"], [b"bearer  tok-operator "], [b"Bearer "], [b"Basic dTpw"],
        [b"Bearer tok-x"], [b"Bearer tok-operator", b"Bearer tok-x"], [b"Token tok-operator"],
    ]  # fmt: skip
    for _ in range(2):
        for value in values:
            reference = records._auth(records._joined(value), changing_role_of)
            assert rows._auth(value) == (reference["kind"], reference["role"])
    roles.clear()  # the token is no longer valid: the next exchange is not the operator's
    assert rows._auth([b"Bearer tok-operator"]) == (records.AUTH_INVALID, None)
    assert asked.count("tok-operator") == 2 * 2 * 2 + 1  # rows and reference, every time


def test_an_answer_header_that_is_no_bytes_is_stored_from_the_copy(tmp_path: Path) -> None:
    from proxy.shadow.capture import ResponseRecorder

    recorder = TrafficRecorder(
        CapturePolicy.from_mapping({"defaults": {"sample_rate": 1.0}}),
        SQLiteCaptureStore(tmp_path / "c.db"),
        role_of=role_of,
    )
    tee = ResponseRecorder()
    headers = [(b"Content-Type", bytearray(b"text/plain")), (b"Set-Cookie", b"sid=c-secret")]
    tee.record({"type": "http.response.start", "status": 200, "headers": headers})
    tee.record({"type": "http.response.body", "body": b"ok"})
    scope = {"method": "GET", "path": "/a", "raw_path": b"/a", "query_string": b""}
    try:
        assert recorder.submit("GET /a", "new", scope, [(b"host", b"h")], b"", tee, 1024)
        assert recorder.flush(10)
        (stored,) = recorder.store.list()
    finally:
        recorder.close()
    assert recorder.counts["stored"] == 1 and recorder.counts["error"] == 0
    assert stored["response"]["headers"] == [
        ["content-type", "text/plain"],
        ["set-cookie", "[REDACTED]"],
    ]
