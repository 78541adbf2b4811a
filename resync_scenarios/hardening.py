"""Parity scenarios from the hardening review (issue 12), across resources."""

from __future__ import annotations

from resync_scenarios.builders import CHAT, LOGIN, A
from resync_scenarios.model import MULTIPART_BOUNDARY, Scenario

__all__ = ["scenarios"]


def scenarios() -> list[Scenario]:
    """Inputs from the hardening review (issue 12): encodings, framing, repeated headers."""
    json_type = "application/json"
    users = "POST /api/v1/users"
    surrogates = [
        # A lone UTF-16 surrogate is legal JSON text but has no UTF-8 form (it was a 500).
        (
            "login",
            "POST /api/v1/auth/login",
            LOGIN,
            None,
            b'{"username":"a\\ud800","password":"x"}',
        ),
        (
            "login-both",
            "POST /api/v1/auth/login",
            LOGIN,
            None,
            b'{"username":"\\udc00","password":"\\ud800x"}',
        ),
        (
            "chat",
            "POST /api/v1/chat",
            CHAT,
            "operator",
            b'{"agent_id":"tws-general","message":"hi \\ud83d"}',
        ),
        (
            "chat-agent",
            "POST /api/v1/chat",
            CHAT,
            "operator",
            b'{"agent_id":"tws-\\udfff","message":"hi"}',
        ),
        (
            "users-full-name",
            users,
            f"{A}/users",
            "admin",
            b'{"username":"surrogate_user","password":"long-enough-pass","role":"viewer",'
            b'"full_name":"Ann \\udc00"}',
        ),
        (
            "users-key",
            users,
            f"{A}/users",
            "admin",
            b'{"username":"surrogate_key","password":"long-enough-pass","role":"viewer",'
            b'"\\ud800":1}',
        ),
        (
            "users-nested",
            users,
            f"{A}/users",
            "admin",
            b'{"username":"surrogate_nested","password":"long-enough-pass","role":"viewer",'
            b'"extra":{"deep":["\\ud800"]}}',
        ),
        (
            "review",
            "POST /api/v1/audit/review",
            f"{A}/audit/review",
            "operator",
            b'{"memory_id":"chat-\\ud800","action":"approve"}',
        ),
        (
            "refresh",
            "POST /api/v1/auth/refresh",
            f"{A}/auth/refresh",
            None,
            b'{"refresh_token":"\\ud800"}',
        ),
    ]
    found = [
        Scenario(
            f"surrogate-{name}",
            route,
            path,
            auth=auth,
            body=body,
            content_type=json_type,
            expect=400,
        )
        for name, route, path, auth, body in surrogates
    ]
    # A surrogate pair is one character (U+1F600): accepted like any other.
    found.append(
        Scenario(
            "surrogate-pair-ok",
            "POST /api/v1/chat",
            CHAT,
            auth="operator",
            body=b'{"agent_id":"tws-general","message":"smile \\ud83d\\ude00"}',
            content_type=json_type,
            expect=200,
        )
    )
    agents = "GET /api/v1/agents"
    found += [
        # Two Authorization headers are refused on both sides (legacy sees them joined).
        Scenario("auth-header-twice", agents, f"{A}/agents", auth="twice:viewer", expect=401),
        Scenario(
            "auth-header-twice-one-empty",
            agents,
            f"{A}/agents",
            auth="viewer",
            headers=(("Authorization", ""),),
            expect=401,
        ),
        Scenario(
            "auth-header-twice-other-scheme",
            agents,
            f"{A}/agents",
            auth="viewer",
            headers=(("Authorization", "Basic dmlld2VyOng="),),
            expect=401,
        ),
        Scenario("auth-header-comma", agents, f"{A}/agents", auth="comma:viewer", expect=401),
        # A body without Content-Length is framed by the server; the 1 MiB limit still holds.
        Scenario(
            "chunked-2mib",
            "POST /api/v1/chat",
            CHAT,
            auth="operator",
            body=b"x" * (2 * 1024 * 1024),
            content_type=json_type,
            chunked=True,
            expect=413,
        ),
        Scenario(
            "chunked-2mib-anonymous",
            "POST /api/v1/chat",
            CHAT,
            body=b"x" * (2 * 1024 * 1024),
            content_type=json_type,
            chunked=True,
            expect=413,
        ),
        Scenario(
            "chunked-small",
            "POST /api/v1/chat",
            CHAT,
            auth="operator",
            body=b'{"agent_id":"tws-general","message":"plan"}',
            content_type=json_type,
            chunked=True,
            expect=200,
        ),
    ]
    # A part whose name is an unterminated quoted string is ignored, not a broken form.
    nameless = (
        f"--{MULTIPART_BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="odd\\"\r\n\r\n{}\r\n'
        f"--{MULTIPART_BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="nameless-neighbour.txt"\r\n'
        "Content-Type: text/plain\r\n\r\nneighbour text\r\n"
        f"--{MULTIPART_BOUNDARY}--\r\n"
    ).encode()
    found.append(
        Scenario(
            "upload-beside-a-nameless-part",
            "POST /api/v1/rag/upload",
            f"{A}/rag/upload",
            auth="operator",
            body=nameless,
            content_type=f"multipart/form-data; boundary={MULTIPART_BOUNDARY}",
            expect=201,
        )
    )
    return found
