"""What makes a capture record cheap keeps every secret out: the pre-check and the caches.

The pre-check decides whether a body or a value needs the (parsing) redaction pass at all; it
must fire for everything the redaction rules would change (a superset), yet stay quiet for
ordinary words. The caches remember only values that needed no redaction, and stay bounded.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from proxy.shadow.capture import CapturedResponse
from proxy.shadow.redaction import is_secret_name
from proxy.traffic import records
from proxy.traffic.records import (
    CleanCache,
    Exchange,
    KnownBodies,
    build_capture,
    redact_body,
)
from proxy.traffic.store import SHAPE_KEYS, SQLiteCaptureStore, _known_shape, _stored

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsInJvbGUiOiJhZG1pbiJ9."
    "c2lnbmF0dXJlLXBhcnQtb2YtdGhlLXRva2Vu"
)
AGENTS = (
    b'{"items":[{"id":"tws-general","name":"TWS General Assistant","role":"Workload automation'
    b' generalist","goal":"Answer questions inside the plan; rapid API answers, authentication'
    b' considered","tools":["tws_status","rag_search"],"model_name":"resync-rules-1"}],'
    b'"total":1,"limit":50,"offset":0}'
)


def exchange(headers: list[tuple[bytes, bytes]], body: bytes = b"{}") -> Exchange:
    return Exchange(
        at=1796230866.25,
        route="GET /api/v1/agents",
        side="new",
        method="GET",
        raw_path=b"/api/v1/agents",
        query_string=b"",
        headers=headers,
        body=b"",
        response=CapturedResponse(200, [(b"content-type", b"application/json")], body),
        body_limit=65536,
    )


def test_ordinary_words_do_not_send_a_body_through_the_parsing_pass() -> None:
    # "inside", "considered" hold "sid"; "rapid API", "authentication" hold "api" and "auth".
    assert not records._needs_redaction(AGENTS)
    assert not records._text_needs_redaction("/api/v1/agents")
    assert redact_body("application/json", AGENTS) == (AGENTS, False)


@pytest.mark.parametrize(
    ("body", "secret"),
    [
        pytest.param('{"to\u212aen": "kelvin-secret-1"}', "kelvin-secret-1", id="kelvin-sign-key"),
        pytest.param('{"note": "ba\u017fic dmlld2VyOnB3"}', "dmlld2VyOnB3", id="long-s-basic"),
        pytest.param('{"user_sid": "sid-value-77"}', "sid-value-77", id="sid-segment"),
        pytest.param('{"X-JTI": "jti-value-78"}', "jti-value-78", id="jti-upper"),
        pytest.param('{"api-key": "k-value-79"}', "k-value-79", id="api-dash-key"),
    ],
)
def test_secrets_behind_rare_spellings_are_still_found(body: str, secret: str) -> None:
    clean, redacted = redact_body("application/json", body.encode())

    assert redacted and secret.encode() not in clean


_FRAGMENTS = [
    "password", "Passwd", "pwd", "PWD", "secret", "token", "ToKen", "jti", "sid", "SID",
    "api_key", "API-KEY", "apikey", "private_key", "authorization", "cookie", "credentials",
    "bearer", "Basic", "eyJ", JWT, "\u212a", "\u017f", "\u0131", "\u0130", "\\u0070", "_", "-",
    " ", "=", ":", '"', "&", "x", "inside", "rapid", "auth", "api", "pass", "private", "9",
    "abcdefgh", "ba", "ic", "to", "en", "\n", "\\n",
]  # fmt: skip


def _json_changes(text: str) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return records._redact_loose_text(text) != text
    return bool(records._redact_json_deep(value) != value)


def test_the_pre_check_fires_for_everything_the_rules_would_change() -> None:
    rng = random.Random(15)
    changed = 0
    for _ in range(20000):
        words = "".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(1, 6)))
        key = "".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(1, 3)))
        for text in (
            words,
            json.dumps({key: words, "n": [words]}, ensure_ascii=rng.random() < 0.3),
        ):
            rules_change = (
                is_secret_name(text) or records._redact_loose_text(text) != text
                or _json_changes(text)
            )  # fmt: skip
            if rules_change:
                changed += 1
                assert records._text_needs_redaction(text), text
                assert records._needs_redaction(text.encode()), text
    assert changed > 1000  # the generator does reach the rules


def test_a_changed_header_value_is_redacted_anew() -> None:
    first = build_capture(exchange([(b"x-note", b"plain words")]), lambda _: None)
    second = build_capture(exchange([(b"x-note", f"see {JWT}".encode())]), lambda _: None)
    third = build_capture(exchange([(b"x-note", b"plain words")]), lambda _: None)

    assert first["request"]["headers"] == [["x-note", "plain words"]]
    assert JWT not in json.dumps(second) and "[REDACTED]" in second["request"]["headers"][0][1]
    assert third == first


def test_the_value_cache_keeps_only_clean_values_and_stays_bounded() -> None:
    cache = CleanCache(records._clean_text, size=50, longest=64)

    assert cache(f"see {JWT}".encode()) == "see [REDACTED]"
    assert cache(b"x" * 65) == "x" * 65
    assert len(cache) == 0  # neither the redacted value nor the long one was kept
    for n in range(500):
        assert cache(f"value-{n}".encode()) == f"value-{n}"
        assert len(cache) <= 50
    assert cache(b"value-499") == "value-499"


def test_a_secret_named_header_never_enters_the_value_cache() -> None:
    token = f"Bearer {JWT}-never-cached".encode()
    build_capture(exchange([(b"authorization", token), (b"cookie", b"sid=c-1")]), lambda _: None)

    assert all(token not in raw and b"c-1" not in raw for raw in records._clean_value._known)


def test_the_body_cache_keeps_only_bodies_without_markers_and_stays_bounded() -> None:
    secret = b'{"password":"pw-not-cached"}'
    assert redact_body("application/json", secret)[1]
    assert secret not in records._clean_bodies

    bodies = KnownBodies(size=3, longest=10)
    for n in range(10):
        bodies.add(f"b-{n}".encode())
    bodies.add(b"x" * 11)
    assert len(bodies) == 3 and b"b-9" in bodies and b"b-0" not in bodies
    assert b"x" * 11 not in bodies


def test_a_recorded_shape_skips_the_walk_only_when_no_key_can_be_secret(tmp_path: Path) -> None:
    assert not [key for key in SHAPE_KEYS if is_secret_name(key)]
    record = build_capture(exchange([(b"host", b"h")], AGENTS), lambda _: None)
    assert _known_shape(record)
    assert json.loads(_stored(record)) == record

    planted = {**record, "request": {**record["request"], "password": "planted-pw-1"}}
    nested = {**record, "response": {**record["response"], "headers": [["x", {"token": "t-9"}]]}}
    assert not _known_shape(planted) and not _known_shape(nested)
    store = SQLiteCaptureStore(tmp_path / "c.db")
    try:
        store.add_many([record, planted, nested])
        text = (tmp_path / "c.db").read_bytes() + (tmp_path / "c.db-wal").read_bytes()
        assert b"planted-pw-1" not in text and b"t-9" not in text
        assert store.list()[0]["response"]["body"]["value"] == AGENTS.decode()
    finally:
        store.close()
