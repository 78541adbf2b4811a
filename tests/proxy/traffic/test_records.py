"""Capture records: replayable bodies, and no credential left in any field."""

from __future__ import annotations

import base64
import json

import pytest

from proxy.shadow.capture import CapturedResponse
from proxy.traffic.records import Exchange, build_capture, decode_body, redact_body
from proxy.traffic.requests import INVALID_BEARER, ReplayRequest

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsInJvbGUiOiJhZG1pbiJ9."
    "c2lnbmF0dXJlLXBhcnQtb2YtdGhlLXRva2Vu"
)


def exchange(
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes = b"",
    path: bytes = b"/api/v1/agents",
    query: bytes = b"",
    response: CapturedResponse | None = None,
    limit: int = 65536,
) -> Exchange:
    return Exchange(
        at=1796230866.25,
        route="GET /api/v1/agents",
        side="legacy",
        method="POST" if body else "GET",
        raw_path=path,
        query_string=query,
        headers=headers or [],
        body=body,
        response=response or CapturedResponse(200, [(b"content-type", b"application/json")], b"{}"),
        body_limit=limit,
    )


def roles(token: str) -> str | None:
    return "viewer" if token == JWT else None


@pytest.mark.parametrize(
    ("content_type", "body", "secret"),
    [
        pytest.param(
            "application/json",
            b'{"username":"a","password":"hunter2-pw"}',
            b"hunter2-pw",
            id="json-password",
        ),
        pytest.param(
            "application/json",
            b'{"refresh_token":"r-tok-123456"}',
            b"r-tok-123456",
            id="json-refresh",
        ),
        pytest.param(
            "application/json", b'{"a":{"b":[{"api_key":"k-98765"}]}}', b"k-98765", id="json-nested"
        ),
        pytest.param(
            "application/json",
            b'{"note":"Bearer abcdef123456"}',
            b"abcdef123456",
            id="json-bearer-text",
        ),
        pytest.param(
            "application/json",
            b'{"pass\\u0077ord":"esc-pw-4242"}',
            b"esc-pw-4242",
            id="json-escaped-key",
        ),
        pytest.param(
            "application/json", b'{"password":"cut-pw-777","x', b"cut-pw-777", id="json-truncated"
        ),
        pytest.param(
            "application/json",
            b'{"body":"{\\"password\\":\\"nested-pw-5\\"}"}',
            b"nested-pw-5",
            id="json-inside-a-string",
        ),
        pytest.param(
            "application/x-www-form-urlencoded",
            b"username=a&password=form-pw-1",
            b"form-pw-1",
            id="form",
        ),
        pytest.param(
            "application/x-www-form-urlencoded",
            b"pass%77ord=enc-pw-2",
            b"enc-pw-2",
            id="form-encoded-name",
        ),
        pytest.param(
            "multipart/form-data; boundary=XX",
            b'--XX\r\nContent-Disposition: form-data; name="password"\r\n\r\nmp-pw-3\r\n--XX--\r\n',
            b"mp-pw-3",
            id="multipart-field",
        ),
        pytest.param("text/plain", f"token: {JWT}".encode(), JWT.encode(), id="text-jwt"),
    ],
)
def test_secrets_in_bodies_are_replaced(content_type: str, body: bytes, secret: bytes) -> None:
    clean, redacted = redact_body(content_type, body)

    assert redacted
    assert secret not in clean
    assert b"[REDACTED]" in clean


def test_a_body_without_secrets_is_kept_byte_for_byte() -> None:
    body = b'{ "agent_id" : "tws-general", "message": "job FRAUD_MERGE_01" }'

    assert redact_body("application/json", body) == (body, False)


def test_a_binary_upload_survives_redaction_unchanged() -> None:
    payload = bytes(range(256)) * 4
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\n\r\n'
        + payload
        + b"\r\n--B--\r\n"
    )

    clean, redacted = redact_body("multipart/form-data; boundary=B", body)

    assert (clean, redacted) == (body, False)


def test_a_record_keeps_the_role_not_the_token_and_redacts_every_field() -> None:
    response = CapturedResponse(
        200,
        [(b"content-type", b"application/json"), (b"set-cookie", b"sid=cookie-value-1")],
        json.dumps(
            {"access_token": JWT, "refresh_token": "refresh-xyz-1", "token_type": "bearer"}
        ).encode(),
    )
    record = build_capture(
        exchange(
            headers=[
                (b"authorization", f"Bearer {JWT}".encode()),
                (b"cookie", b"sid=cookie-value-1"),
                (b"x-note", f"see {JWT}".encode()),
                (b"content-type", b"application/json"),
            ],
            body=b'{"password":"pw-in-body-1"}',
            path=f"/api/v1/agents/{JWT}".encode(),
            query=f"access_token={JWT}&limit=5".encode(),
            response=response,
        ),
        roles,
    )
    text = json.dumps(record)

    for secret in (JWT, "cookie-value-1", "refresh-xyz-1", "pw-in-body-1"):
        assert secret not in text
    assert record["auth"] == {"kind": "role", "role": "viewer"}
    assert "limit=5" in record["request"]["query"]
    assert record["request"]["path"] == "/api/v1/agents/[REDACTED]"
    assert json.loads(record["response"]["body"]["value"])["token_type"] == "bearer"
    assert record["at"] == "2026-12-02T17:01:06.250Z"


@pytest.mark.parametrize(
    ("authorization", "kind", "sent"),
    [
        pytest.param(None, "none", None, id="none"),
        pytest.param(f"Bearer {JWT}", "role", "Bearer minted", id="role"),
        pytest.param("Bearer expired-or-forged", "invalid", INVALID_BEARER, id="invalid"),
        pytest.param("Basic dmlld2VyOnB3", "other", "Basic", id="other-scheme"),
    ],
)
def test_replay_authenticates_by_the_captured_auth_kind(
    authorization: str | None, kind: str, sent: str | None
) -> None:
    headers = [(b"authorization", authorization.encode())] if authorization else []
    record = {"id": 1, **build_capture(exchange(headers=headers), roles)}
    request = ReplayRequest.from_record(record)

    assert request.auth_kind == kind
    value = request.authorization("minted")
    assert (value is None) if sent is None else value.startswith(sent)
    assert all(name not in ("authorization", "cookie") for name, _ in request.headers)


def test_a_long_response_is_kept_cut_and_marked_truncated() -> None:
    response = CapturedResponse(200, [(b"content-type", b"text/plain")], b"x" * 100)

    record = build_capture(exchange(response=response, limit=10), roles)

    assert record["response"]["body"]["value"] == "x" * 10
    assert record["response"]["body"]["truncated"] is True


def test_non_utf8_bodies_are_stored_as_base64_and_decoded_back() -> None:
    body = b"\xff\xfe\x00binary"
    record = build_capture(
        exchange(body=body, headers=[(b"content-type", b"application/octet-stream")]), roles
    )

    view = record["request"]["body"]
    assert view["encoding"] == "base64" and base64.b64decode(view["value"]) == body
    assert decode_body(view) == body
