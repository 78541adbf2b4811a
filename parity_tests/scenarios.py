"""The parity scenarios: every route of the Resync API, per role and without a token, plus the
contract's bad inputs, as data.

A scenario names the route key it exercises (as the route inventory spells it), the request
(path, query, body, the credentials to present) and the status it is meant to reach, which only
checks that the scenario still exercises what it says; parity itself is "both sides answer
alike". ``before`` steps run first on the same side (failed logins before a lockout, an upload
before its duplicate); ``{prev.id}`` in a path is the ``id`` of the last step's JSON answer.

Credentials are named, not embedded: ``viewer``, ``operator``, ``admin`` are tokens the legacy
app issued; ``viewer@new``... the FastAPI app issued; the rest are deliberately broken tokens
(see :data:`BROKEN_CREDENTIALS`). ``refresh:viewer`` in a JSON body is that user's refresh token.

Used by ``parity_tests/`` (in-process, each side on its own copy of a seeded database) and by
``proxy.cli.parity`` (the read-only ones, against two running deployments).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from migrations.seed import RUNBOOK_DIR

__all__ = [
    "BROKEN_CREDENTIALS",
    "NO_BODY",
    "ROLES",
    "SCENARIOS",
    "WAIVERS",
    "Scenario",
    "multipart",
]

ROLES = ("viewer", "operator", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}

#: Credentials that must be refused (401), each a different way of being wrong.
BROKEN_CREDENTIALS = (
    "expired",  # signed right, expired beyond the leeway
    "bad-signature",  # another key
    "wrong-audience",
    "refresh-as-access",  # a refresh token where an access token is due
    "stale-role",  # role claim differs from the user's role now
    "unknown-user",
    "alg-none",  # unsigned
    "not-a-jwt",
    "empty-bearer",  # "Bearer " and nothing
    "basic",  # another scheme
)

NO_BODY: Any = object()
MULTIPART_BOUNDARY = "resync-parity-boundary-7d3f"

SEEDED_FILE = str(uuid.uuid5(uuid.NAMESPACE_URL, "resync-runbook:abend-recovery.md"))
SEEDED_FILE_2 = str(uuid.uuid5(uuid.NAMESPACE_URL, "resync-runbook:critical-path.md"))
UNKNOWN_FILE = "00000000-0000-4000-8000-000000000000"
KNOWN_JOB_ID = "J0001"
KNOWN_JOB_NAME = "FRAUD_MERGE_01"

#: Routes that cannot have a parity scenario, and why.
WAIVERS: Mapping[str, str] = {
    "WS /api/v1/ws/chat/{agent_id}": "WebSocket: only the new app serves it (WSGI cannot carry "
    "it); there is nothing to compare it with. tests/resync_fastapi covers it.",
    "GET /openapi.json": "FastAPI's generated schema: new side only, not part of the contract.",
    "GET /docs": "The Swagger UI page: new side only, not part of the contract.",
    "GET /docs/oauth2-redirect": "Swagger UI's OAuth2 helper: new side only.",
    "GET /docs/assets/{name}": "The docs pages' scripts and styles: new side only.",
    "GET /redoc": "The ReDoc page: new side only, not part of the contract.",
}


@dataclass(frozen=True)
class Scenario:
    """One request to send to both implementations."""

    id: str
    route: str
    path: str
    auth: str | None = None
    method: str | None = None  # defaults to the route key's method
    query: tuple[tuple[str, str], ...] = ()
    json: Any = NO_BODY
    body: bytes | None = None
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    expect: int | None = None
    before: tuple[Scenario, ...] = ()
    tws: Mapping[str, float] | None = None  # simulator faults while the scenario runs
    chunked: bool = False  # send the body without Content-Length (Transfer-Encoding: chunked)
    tags: frozenset[str] = field(default_factory=frozenset)

    @property
    def http_method(self) -> str:
        """Return the method sent (the route's, unless overridden)."""
        return self.method or self.route.split(" ", 1)[0]

    @property
    def writes(self) -> bool:
        """Tell whether the scenario may change the database (then it gets fresh copies)."""
        return self.http_method not in ("GET", "HEAD") or bool(self.before)

    @property
    def live_safe(self) -> bool:
        """Tell whether it may run against live deployments: read-only and fault-free."""
        return not self.writes and self.tws is None and (self.auth is None or self.auth in ROLES)

    def payload(self, tokens: Mapping[str, str] | None = None) -> tuple[bytes, str | None]:
        """Return the body bytes and their content type.

        ``tokens`` resolves ``"refresh:ROLE"`` / ``"access:ROLE"`` strings in a JSON body.
        """
        if self.json is not NO_BODY:
            value = _resolve(self.json, tokens or {})
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            return text.encode("utf-8"), self.content_type or "application/json"
        return (self.body or b""), self.content_type

    def describe(self) -> str:
        """Return the request as one readable line (for failure output and reports)."""
        query = "&".join(f"{k}={v}" for k, v in self.query)
        target = self.path + (f"?{query}" if query else "")
        parts = [f"{self.http_method} {target}", f"auth={self.auth or 'none'}"]
        if self.json is not NO_BODY:
            shown = json.dumps(self.json, ensure_ascii=False)
            parts.append("json=" + (shown if len(shown) <= 160 else shown[:159] + "…"))
        elif self.body is not None:
            parts.append(f"body={len(self.body)} bytes ({self.content_type})")
        if self.before:
            parts.append("after " + ", ".join(s.id for s in self.before))
        if self.tws:
            parts.append(f"tws={dict(self.tws)}")
        return " ".join(parts)


def _resolve(value: Any, tokens: Mapping[str, str]) -> Any:
    if isinstance(value, str) and value.startswith(("refresh:", "access:")):
        return tokens.get(value, value)
    if isinstance(value, dict):
        return {k: _resolve(v, tokens) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, tokens) for v in value]
    return value


def multipart(
    parts: Iterable[tuple[str, str | None, bytes, str | None]],
) -> tuple[bytes, str]:
    """Encode ``(field, filename, content, content_type)`` parts with a fixed boundary.

    Built by hand so both sides receive the same bytes (and so filenames with path
    separators reach the apps exactly as written).
    """
    chunks: list[bytes] = []
    for name, filename, content, content_type in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        head = f"--{MULTIPART_BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        chunks.append(head.encode("utf-8") + b"\r\n" + content + b"\r\n")
    chunks.append(f"--{MULTIPART_BOUNDARY}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={MULTIPART_BOUNDARY}"


def _upload(
    id_: str,
    filename: str | None,
    content: bytes,
    *,
    auth: str | None = "operator",
    expect: int | None = None,
    field_name: str = "file",
    part_type: str | None = "text/plain",
    before: tuple[Scenario, ...] = (),
) -> Scenario:
    body, content_type = multipart([(field_name, filename, content, part_type)])
    return Scenario(
        id_,
        "POST /api/v1/rag/upload",
        "/api/v1/rag/upload",
        auth=auth,
        body=body,
        content_type=content_type,
        expect=expect,
        before=before,
    )


def _upload_disposition(
    id_: str, disposition: str, content: bytes, *, expect: int | None = None
) -> Scenario:
    """An operator's upload of one part whose ``Content-Disposition`` is written verbatim.

    For RFC 5987 / RFC 2231 parameters (``filename*=UTF-8''...``, ``filename*0=``) that
    :func:`multipart` does not write.
    """
    head = f"--{MULTIPART_BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    head += "Content-Type: text/plain\r\n\r\n"
    body = head.encode("utf-8") + content + f"\r\n--{MULTIPART_BOUNDARY}--\r\n".encode()
    return Scenario(
        id_,
        "POST /api/v1/rag/upload",
        "/api/v1/rag/upload",
        auth="operator",
        body=body,
        content_type=f"multipart/form-data; boundary={MULTIPART_BOUNDARY}",
        expect=expect,
    )


def _roles(
    prefix: str, route: str, path: str, minimum: str | None, ok: int = 200, **options: Any
) -> list[Scenario]:
    """Scenarios for no token and each role: below ``minimum`` 403, from it ``ok``."""
    found = [
        Scenario(
            f"{prefix}-anonymous",
            route,
            path,
            auth=None,
            expect=ok if minimum is None else 401,
            **options,
        )
    ]
    for role in ROLES:
        allowed = minimum is None or ROLE_RANK[role] >= ROLE_RANK[minimum]
        found.append(
            Scenario(
                f"{prefix}-{role}", route, path, auth=role, expect=ok if allowed else 403, **options
            )
        )
    return found


def _pagination(prefix: str, route: str, path: str, auth: str) -> list[Scenario]:
    cases = [
        ("limit-0", (("limit", "0"),), 400),
        ("limit-101", (("limit", "101"),), 400),
        ("limit-100", (("limit", "100"),), 200),
        ("limit-1-offset-2", (("limit", "1"), ("offset", "2")), 200),
        ("limit-text", (("limit", "ten"),), 400),
        ("limit-float", (("limit", "1.5"),), 400),
        ("limit-empty", (("limit", ""),), 400),
        ("offset-negative", (("offset", "-1"),), 400),
        ("offset-text", (("offset", "x"),), 400),
        ("offset-beyond", (("offset", "100000"),), 200),
        ("offset-max", (("offset", "2147483647"),), 200),
        ("offset-over-max", (("offset", "2147483648"),), 400),
        ("offset-2-63", (("offset", "9223372036854775808"),), 400),
        ("offset-huge", (("offset", "12544549502980688017469997056"),), 400),
        ("limit-and-offset-bad", (("limit", "0"), ("offset", "-5")), 400),
    ]
    return [
        Scenario(f"{prefix}-page-{name}", route, path, auth=auth, query=query, expect=expect)
        for name, query, expect in cases
    ]


def _broken_credentials(prefix: str, route: str, path: str, **options: Any) -> list[Scenario]:
    return [
        Scenario(f"{prefix}-token-{kind}", route, path, auth=kind, expect=401, **options)
        for kind in BROKEN_CREDENTIALS
    ]


A = "/api/v1"
LOGIN = f"{A}/auth/login"
CHAT = f"{A}/chat"

_login_fail = Scenario(
    "login-fail-step",
    "POST /api/v1/auth/login",
    LOGIN,
    json={"username": "operator", "password": "wrong-password-1"},
)
_first_upload = _upload("upload-step", "notes.txt", b"alpha beta\n\ngamma delta\n")
_chat_help = Scenario(
    "chat-step",
    "POST /api/v1/chat",
    CHAT,
    auth="operator",
    json={"agent_id": "tws-general", "message": "hello there"},
)


def _scenarios() -> list[Scenario]:
    s: list[Scenario] = []

    # --- health (no auth) -------------------------------------------------------------------
    s += _roles("live", "GET /health/live", "/health/live", None)
    s += _roles("ready", "GET /health/ready", "/health/ready", None)
    s += [
        Scenario(
            "ready-tws-down",
            "GET /health/ready",
            "/health/ready",
            expect=503,
            tws={"error_rate": 1.0},
        ),
        Scenario("live-head", "GET /health/live", "/health/live", method="HEAD", expect=200),
        Scenario("live-post-405", "GET /health/live", "/health/live", method="POST", expect=405),
    ]

    # --- auth -------------------------------------------------------------------------------
    login = "POST /api/v1/auth/login"
    for role in ROLES:
        s.append(
            Scenario(
                f"login-{role}",
                login,
                LOGIN,
                expect=200,
                json={"username": role, "password": f"resync-{role}-dev"},
            )
        )
    s += [
        Scenario(
            "login-form",
            login,
            LOGIN,
            expect=200,
            body=b"grant_type=password&username=viewer&password=resync-viewer-dev&scope=",
            content_type="application/x-www-form-urlencoded",
        ),
        Scenario(
            "login-form-bad-password",
            login,
            LOGIN,
            expect=401,
            body=b"username=viewer&password=nope",
            content_type="application/x-www-form-urlencoded",
        ),
        Scenario(
            "login-form-missing-password",
            login,
            LOGIN,
            expect=400,
            body=b"username=viewer",
            content_type="application/x-www-form-urlencoded",
        ),
        Scenario(
            "login-bad-password",
            login,
            LOGIN,
            expect=401,
            json={"username": "viewer", "password": "not-the-password"},
        ),
        Scenario(
            "login-unknown-user",
            login,
            LOGIN,
            expect=401,
            json={"username": "nobody", "password": "whatever-password"},
        ),
        Scenario("login-missing-fields", login, LOGIN, expect=400, json={}),
        Scenario("login-missing-password", login, LOGIN, expect=400, json={"username": "viewer"}),
        Scenario(
            "login-username-number",
            login,
            LOGIN,
            expect=400,
            json={"username": 42, "password": "x"},
        ),
        Scenario(
            "login-empty-username", login, LOGIN, expect=400, json={"username": "", "password": "x"}
        ),
        Scenario(
            "login-username-too-long",
            login,
            LOGIN,
            expect=400,
            json={"username": "u" * 129, "password": "x"},
        ),
        Scenario(
            "login-password-too-long",
            login,
            LOGIN,
            expect=400,
            json={"username": "viewer", "password": "p" * 129},
        ),
        Scenario(
            "login-malformed-json",
            login,
            LOGIN,
            expect=400,
            body=b'{"username": "viewer", ',
            content_type="application/json",
        ),
        Scenario("login-json-array", login, LOGIN, expect=400, json=["viewer", "x"]),
        Scenario(
            "login-text-plain",
            login,
            LOGIN,
            expect=415,
            body=b"username=viewer",
            content_type="text/plain",
        ),
        Scenario(
            "login-json-charset",
            login,
            LOGIN,
            expect=200,
            json={"username": "viewer", "password": "resync-viewer-dev"},
            content_type="application/json; charset=utf-8",
        ),
        Scenario(
            "login-body-too-large",
            login,
            LOGIN,
            expect=413,
            body=b'{"username":"' + b"x" * (1024 * 1024) + b'"}',
            content_type="application/json",
        ),
        Scenario(
            "login-lockout",
            login,
            LOGIN,
            expect=429,
            json={"username": "operator", "password": "resync-operator-dev"},
            before=(_login_fail,) * 5,
        ),
        Scenario(
            "login-four-failures-then-success",
            login,
            LOGIN,
            expect=200,
            json={"username": "operator", "password": "resync-operator-dev"},
            before=(_login_fail,) * 4,
        ),
        Scenario("login-get-405", login, LOGIN, method="GET", expect=405),
    ]

    refresh = "POST /api/v1/auth/refresh"
    path = f"{A}/auth/refresh"
    s += [
        Scenario(
            "refresh-viewer", refresh, path, expect=200, json={"refresh_token": "refresh:viewer"}
        ),
        Scenario(
            "refresh-admin-issued-by-new",
            refresh,
            path,
            expect=200,
            json={"refresh_token": "refresh:admin@new"},
        ),
        Scenario(
            "refresh-reused",
            refresh,
            path,
            expect=401,
            json={"refresh_token": "refresh:operator"},
            before=(
                Scenario("refresh-step", refresh, path, json={"refresh_token": "refresh:operator"}),
            ),
        ),
        Scenario(
            "refresh-with-access-token",
            refresh,
            path,
            expect=401,
            json={"refresh_token": "access:viewer"},
        ),
        Scenario("refresh-garbage", refresh, path, expect=401, json={"refresh_token": "abc"}),
        Scenario("refresh-missing", refresh, path, expect=400, json={}),
        Scenario("refresh-number", refresh, path, expect=400, json={"refresh_token": 5}),
        Scenario(
            "refresh-malformed-json",
            refresh,
            path,
            expect=400,
            body=b"{",
            content_type="application/json",
        ),
        Scenario(
            "refresh-text-plain", refresh, path, expect=415, body=b"x", content_type="text/plain"
        ),
    ]

    logout = "POST /api/v1/auth/logout"
    path = f"{A}/auth/logout"
    s += _roles("logout", logout, path, "viewer", ok=204)
    s += _broken_credentials("logout", logout, path)
    logout_step = Scenario("logout-step", logout, path, auth="viewer")
    s += [
        Scenario(
            "me-after-logout",
            "GET /api/v1/auth/me",
            f"{A}/auth/me",
            auth="viewer",
            expect=401,
            before=(logout_step,),
        ),
        Scenario(
            "refresh-after-logout",
            refresh,
            f"{A}/auth/refresh",
            expect=401,
            json={"refresh_token": "refresh:viewer"},
            before=(logout_step,),
        ),
        Scenario("logout-twice", logout, path, auth="viewer", expect=401, before=(logout_step,)),
    ]

    me = "GET /api/v1/auth/me"
    s += _roles("me", me, f"{A}/auth/me", "viewer")
    s += _broken_credentials("me", me, f"{A}/auth/me")
    s += [
        Scenario(f"me-issued-by-new-{role}", me, f"{A}/auth/me", auth=f"{role}@new", expect=200)
        for role in ROLES
    ]
    s += [
        Scenario("me-lowercase-bearer", me, f"{A}/auth/me", auth="lowercase-bearer:viewer"),
        Scenario("me-head", me, f"{A}/auth/me", auth="viewer", method="HEAD", expect=200),
        Scenario("me-trailing-slash", me, f"{A}/auth/me/", auth="viewer", expect=404),
        Scenario(
            "me-request-id-kept",
            me,
            f"{A}/auth/me",
            auth="viewer",
            expect=200,
            headers=(("X-Request-ID", "parity-req.01_A"),),
        ),
        Scenario(
            "me-request-id-invalid",
            me,
            f"{A}/auth/me",
            auth="viewer",
            expect=200,
            headers=(("X-Request-ID", "not valid!"),),
        ),
    ]

    # --- users ------------------------------------------------------------------------------
    s += _roles("users-list", "GET /api/v1/users", f"{A}/users", "admin")
    s += _pagination("users-list", "GET /api/v1/users", f"{A}/users", "admin")
    create = "POST /api/v1/users"
    good_user = {
        "username": "new_user-1",
        "password": "a-long-password-1",
        "role": "operator",
        "full_name": "Nia Ops",
        "email": "nia@example.com",
    }
    s += _roles("users-create", create, f"{A}/users", "admin", ok=201, json=good_user)
    s += [
        Scenario(
            "users-create-minimal",
            create,
            f"{A}/users",
            auth="admin",
            expect=201,
            json={"username": "min", "password": "twelve-chars", "role": "viewer"},
        ),
        Scenario(
            "users-create-duplicate",
            create,
            f"{A}/users",
            auth="admin",
            expect=409,
            json={**good_user, "username": "admin"},
        ),
        Scenario(
            "users-create-bad-username",
            create,
            f"{A}/users",
            auth="admin",
            expect=400,
            json={**good_user, "username": "Bad Name"},
        ),
        Scenario(
            "users-create-short-username",
            create,
            f"{A}/users",
            auth="admin",
            expect=400,
            json={**good_user, "username": "ab"},
        ),
        Scenario(
            "users-create-short-password",
            create,
            f"{A}/users",
            auth="admin",
            expect=400,
            json={**good_user, "password": "short"},
        ),
        Scenario(
            "users-create-long-password",
            create,
            f"{A}/users",
            auth="admin",
            expect=400,
            json={**good_user, "password": "p" * 129},
        ),
        Scenario(
            "users-create-bad-role",
            create,
            f"{A}/users",
            auth="admin",
            expect=400,
            json={**good_user, "role": "root"},
        ),
        Scenario(
            "users-create-bad-email",
            create,
            f"{A}/users",
            auth="admin",
            expect=400,
            json={**good_user, "email": "not-an-email"},
        ),
        Scenario(
            "users-create-long-full-name",
            create,
            f"{A}/users",
            auth="admin",
            expect=400,
            json={**good_user, "full_name": "n" * 101},
        ),
        Scenario(
            "users-create-all-missing", create, f"{A}/users", auth="admin", expect=400, json={}
        ),
        Scenario(
            "users-create-wrong-types",
            create,
            f"{A}/users",
            auth="admin",
            expect=400,
            json={"username": 1, "password": ["x"], "role": None, "email": 5},
        ),
        Scenario(
            "users-create-unicode-name",
            create,
            f"{A}/users",
            auth="admin",
            expect=201,
            json={**good_user, "full_name": "Zoë Ørsted 東京"},
        ),
        Scenario(
            "users-create-malformed-json",
            create,
            f"{A}/users",
            auth="admin",
            expect=400,
            body=b'{"username": "x",}',
            content_type="application/json",
        ),
        Scenario(
            "users-create-form",
            create,
            f"{A}/users",
            auth="admin",
            expect=415,
            body=b"username=x",
            content_type="application/x-www-form-urlencoded",
        ),
        Scenario(
            "users-create-then-list",
            "GET /api/v1/users",
            f"{A}/users",
            auth="admin",
            expect=200,
            before=(Scenario("users-step", create, f"{A}/users", auth="admin", json=good_user),),
        ),
        Scenario(
            "users-put-405",
            "GET /api/v1/users",
            f"{A}/users",
            auth="admin",
            method="PUT",
            expect=405,
        ),
    ]

    # --- agents -----------------------------------------------------------------------------
    s += _roles("agents", "GET /api/v1/agents", f"{A}/agents", "viewer")
    s += _pagination("agents", "GET /api/v1/agents", f"{A}/agents", "viewer")
    s += _broken_credentials("agents", "GET /api/v1/agents", f"{A}/agents")
    detail = "GET /api/v1/agents/{agent_id}"
    s += _roles("agent", detail, f"{A}/agents/tws-troubleshooting", "viewer")
    s += [
        Scenario("agent-general", detail, f"{A}/agents/tws-general", auth="viewer", expect=200),
        Scenario("agent-unknown", detail, f"{A}/agents/nope", auth="viewer", expect=404),
        Scenario("agent-unknown-anonymous", detail, f"{A}/agents/nope", expect=401),
        Scenario("agent-encoded-slash", detail, f"{A}/agents/a%2Fb", auth="viewer", expect=404),
        Scenario("agent-unicode", detail, f"{A}/agents/%C3%BCber", auth="viewer", expect=404),
        Scenario(
            "agent-delete-405",
            detail,
            f"{A}/agents/tws-general",
            auth="admin",
            method="DELETE",
            expect=405,
        ),
        Scenario(
            "agents-options-405",
            "GET /api/v1/agents",
            f"{A}/agents",
            auth="viewer",
            method="OPTIONS",
            expect=405,
        ),
        Scenario(
            "agents-head",
            "GET /api/v1/agents",
            f"{A}/agents",
            auth="viewer",
            method="HEAD",
            expect=200,
        ),
        Scenario(
            "agents-post-405",
            "GET /api/v1/agents",
            f"{A}/agents",
            auth="admin",
            method="POST",
            json={},
            expect=405,
        ),
        Scenario(
            "agents-trailing-slash", "GET /api/v1/agents", f"{A}/agents/", auth="viewer", expect=404
        ),
        Scenario("unknown-path", "(unknown)", f"{A}/does-not-exist", auth="viewer", expect=404),
        Scenario("unknown-path-anonymous", "(unknown)", "/nothing/here", expect=404),
        Scenario("double-slash", "(unknown)", f"{A}//agents", auth="viewer", expect=404),
    ]

    # --- chat -------------------------------------------------------------------------------
    post = "POST /api/v1/chat"
    message = {"agent_id": "tws-general", "message": f"what about job {KNOWN_JOB_NAME}?"}
    s += _roles("chat", post, CHAT, "operator", json=message)
    chats = [
        (
            "job-found-lowercase",
            {"agent_id": "tws-troubleshooting", "message": f"Job {KNOWN_JOB_NAME.lower()} status"},
            200,
        ),
        ("job-not-found", {"agent_id": "tws-general", "message": "job NO_SUCH_JOB_9"}, 200),
        ("failures", {"agent_id": "tws-troubleshooting", "message": "Which jobs FAILED?"}, 200),
        ("abend", {"agent_id": "tws-general", "message": "anything in abend"}, 200),
        ("workstations", {"agent_id": "tws-reporting", "message": "workstation summary"}, 200),
        ("plan", {"agent_id": "tws-reporting", "message": "current PLAN please"}, 200),
        ("help-files-audit", {"agent_id": "tws-general", "message": "  hello  "}, 200),
        ("tabs-and-newlines", {"agent_id": "tws-general", "message": "a\tb\nc"}, 200),
        ("unicode", {"agent_id": "tws-general", "message": "Grüße 東京 — ok?"}, 200),
        ("exactly-4000", {"agent_id": "tws-general", "message": "x" * 4000}, 200),
        ("too-long", {"agent_id": "tws-general", "message": "x" * 4001}, 400),
        ("long-after-trim-ok", {"agent_id": "tws-general", "message": " " + "y" * 4000 + " "}, 200),
        ("empty", {"agent_id": "tws-general", "message": ""}, 400),
        ("blank", {"agent_id": "tws-general", "message": "   \n\t "}, 400),
        ("control-char", {"agent_id": "tws-general", "message": "bell\x07"}, 400),
        ("carriage-return", {"agent_id": "tws-general", "message": "a\r\nb"}, 400),
        ("nul", {"agent_id": "tws-general", "message": "a\x00b"}, 400),
        ("message-number", {"agent_id": "tws-general", "message": 12}, 400),
        ("message-null", {"agent_id": "tws-general", "message": None}, 400),
        ("agent-number", {"agent_id": 7, "message": "hi"}, 400),
        ("missing-message", {"agent_id": "tws-general"}, 400),
        ("missing-both", {}, 400),
        ("unknown-agent", {"agent_id": "nope", "message": "hi"}, 404),
        ("unknown-agent-and-bad-message", {"agent_id": "nope", "message": ""}, 400),
        ("extra-fields-ignored", {"agent_id": "tws-general", "message": "plan", "x": 1}, 200),
        ("json-array", ["tws-general", "hi"], 400),
        ("json-string", "hi", 400),
        ("json-null", None, 400),
    ]
    s += [
        Scenario(f"chat-{name}", post, CHAT, auth="operator", json=body, expect=expect)
        for name, body, expect in chats
    ]
    s += [
        Scenario(
            "chat-malformed-json",
            post,
            CHAT,
            auth="operator",
            expect=400,
            body=b'{"agent_id": "tws-general", "message": ',
            content_type="application/json",
        ),
        Scenario(
            "chat-invalid-utf8",
            post,
            CHAT,
            auth="operator",
            expect=400,
            body=b'{"agent_id": "tws-general", "message": "\xff"}',
            content_type="application/json",
        ),
        Scenario(
            "chat-no-content-type",
            post,
            CHAT,
            auth="operator",
            expect=415,
            body=b'{"agent_id": "tws-general", "message": "hi"}',
        ),
        Scenario(
            "chat-text-plain",
            post,
            CHAT,
            auth="operator",
            expect=415,
            body=b"hi",
            content_type="text/plain",
        ),
        Scenario(
            "chat-empty-body",
            post,
            CHAT,
            auth="operator",
            expect=400,
            body=b"",
            content_type="application/json",
        ),
        Scenario(
            "chat-too-large-anonymous",
            post,
            CHAT,
            expect=413,
            body=b'{"message":"' + b"z" * (1024 * 1024 + 10) + b'"}',
            content_type="application/json",
        ),
        Scenario(
            "chat-tws-error",
            post,
            CHAT,
            auth="operator",
            expect=502,
            json={"agent_id": "tws-general", "message": "plan"},
            tws={"error_rate": 1.0},
        ),
        Scenario(
            "chat-tws-timeout",
            post,
            CHAT,
            auth="operator",
            expect=504,
            json={"agent_id": "tws-general", "message": "plan"},
            tws={"timeout_rate": 1.0, "timeout_seconds": 3.0},
        ),
        Scenario(
            "chat-help-then-audit",
            "GET /api/v1/audit/flags",
            f"{A}/audit/flags",
            auth="viewer",
            expect=200,
            before=(_chat_help,),
        ),
    ]

    history = "GET /api/v1/chat/history"
    hpath = f"{A}/chat/history"
    s += _roles("history", history, hpath, "viewer")
    s += _pagination("history", history, hpath, "viewer")
    s += [
        Scenario(
            "history-unknown-agent",
            history,
            hpath,
            auth="viewer",
            expect=200,
            query=(("agent_id", "nope"),),
        ),
        Scenario(
            "history-after-chat",
            history,
            hpath,
            auth="operator",
            expect=200,
            before=(
                _chat_help,
                replace(_chat_help, json={"agent_id": "tws-reporting", "message": "plan"}),
            ),
        ),
        Scenario(
            "history-after-chat-by-agent",
            history,
            hpath,
            auth="operator",
            expect=200,
            query=(("agent_id", "tws-reporting"), ("limit", "1")),
            before=(
                _chat_help,
                replace(_chat_help, json={"agent_id": "tws-reporting", "message": "plan"}),
            ),
        ),
        Scenario(
            "history-other-users-not-shown",
            history,
            hpath,
            auth="admin",
            expect=200,
            before=(_chat_help,),
        ),
    ]
    delete = "DELETE /api/v1/chat/history"
    s += _roles("history-delete", delete, hpath, "operator", ok=204)
    s += [
        Scenario(
            "history-delete-by-agent",
            delete,
            hpath,
            auth="operator",
            expect=204,
            query=(("agent_id", "tws-general"),),
            before=(
                _chat_help,
                replace(_chat_help, json={"agent_id": "tws-reporting", "message": "plan"}),
            ),
        ),
        Scenario(
            "history-delete-then-list",
            history,
            hpath,
            auth="operator",
            expect=200,
            before=(_chat_help, Scenario("history-delete-step", delete, hpath, auth="operator")),
        ),
        Scenario("history-patch-405", history, hpath, auth="operator", method="PATCH", expect=405),
    ]

    # --- audit ------------------------------------------------------------------------------
    flags = "GET /api/v1/audit/flags"
    fpath = f"{A}/audit/flags"
    s += _roles("audit-flags", flags, fpath, "viewer")
    s += _pagination("audit-flags", flags, fpath, "viewer")
    for status in ("pending", "approved", "rejected", "all"):
        s.append(
            Scenario(
                f"audit-flags-{status}",
                flags,
                fpath,
                auth="viewer",
                expect=200,
                query=(("status", status),),
            )
        )
    s += [
        Scenario(
            "audit-flags-bad-status",
            flags,
            fpath,
            auth="viewer",
            expect=400,
            query=(("status", "open"),),
        ),
        Scenario(
            "audit-flags-status-case",
            flags,
            fpath,
            auth="viewer",
            expect=400,
            query=(("status", "PENDING"),),
        ),
        Scenario(
            "audit-flags-q",
            flags,
            fpath,
            auth="viewer",
            expect=200,
            query=(("status", "all"), ("q", "PAYROLL")),
        ),
        Scenario(
            "audit-flags-q-no-match",
            flags,
            fpath,
            auth="viewer",
            expect=200,
            query=(("q", "zzz-nothing"),),
        ),
        Scenario(
            "audit-flags-q-like-wildcards",
            flags,
            fpath,
            auth="viewer",
            expect=200,
            query=(("status", "all"), ("q", "%_")),
        ),
        Scenario(
            "audit-flags-q-too-long",
            flags,
            fpath,
            auth="viewer",
            expect=400,
            query=(("q", "q" * 201),),
        ),
        Scenario(
            "audit-flags-q-and-limit-bad",
            flags,
            fpath,
            auth="viewer",
            expect=400,
            query=(("q", "q" * 201), ("limit", "0"), ("status", "x")),
        ),
    ]
    review = "POST /api/v1/audit/review"
    rpath = f"{A}/audit/review"
    s += _roles(
        "audit-review",
        review,
        rpath,
        "operator",
        json={"memory_id": "seed-0002", "action": "approve"},
    )
    s += [
        Scenario(
            "audit-review-reject",
            review,
            rpath,
            auth="operator",
            expect=200,
            json={"memory_id": "seed-0003", "action": "reject"},
        ),
        Scenario(
            "audit-review-unknown",
            review,
            rpath,
            auth="operator",
            expect=404,
            json={"memory_id": "seed-9999", "action": "approve"},
        ),
        Scenario(
            "audit-review-already-approved",
            review,
            rpath,
            auth="operator",
            expect=409,
            json={"memory_id": "seed-0016", "action": "reject"},
        ),
        Scenario(
            "audit-review-already-rejected",
            review,
            rpath,
            auth="operator",
            expect=409,
            json={"memory_id": "seed-0028", "action": "approve"},
        ),
        Scenario(
            "audit-review-twice",
            review,
            rpath,
            auth="operator",
            expect=409,
            json={"memory_id": "seed-0004", "action": "reject"},
            before=(
                Scenario(
                    "audit-review-step",
                    review,
                    rpath,
                    auth="operator",
                    json={"memory_id": "seed-0004", "action": "approve"},
                ),
            ),
        ),
        Scenario(
            "audit-review-bad-action",
            review,
            rpath,
            auth="operator",
            expect=400,
            json={"memory_id": "seed-0002", "action": "delete"},
        ),
        Scenario("audit-review-missing", review, rpath, auth="operator", expect=400, json={}),
        Scenario(
            "audit-review-number-id",
            review,
            rpath,
            auth="operator",
            expect=400,
            json={"memory_id": 2, "action": "approve"},
        ),
        Scenario(
            "audit-review-malformed",
            review,
            rpath,
            auth="operator",
            expect=400,
            body=b"{memory_id}",
            content_type="application/json",
        ),
        Scenario(
            "audit-review-then-metrics",
            "GET /api/v1/audit/metrics",
            f"{A}/audit/metrics",
            auth="viewer",
            expect=200,
            before=(
                Scenario(
                    "audit-review-step-2",
                    review,
                    rpath,
                    auth="operator",
                    json={"memory_id": "seed-0005", "action": "reject"},
                ),
            ),
        ),
    ]
    s += _roles("audit-metrics", "GET /api/v1/audit/metrics", f"{A}/audit/metrics", "viewer")
    export = "GET /api/v1/audit/export"
    epath = f"{A}/audit/export"
    s += _roles("audit-export", export, epath, "admin")
    s += [
        Scenario(
            "audit-export-ndjson",
            export,
            epath,
            auth="admin",
            expect=200,
            query=(("format", "ndjson"),),
        ),
        Scenario(
            "audit-export-csv", export, epath, auth="admin", expect=200, query=(("format", "csv"),)
        ),
        Scenario(
            "audit-export-xml", export, epath, auth="admin", expect=400, query=(("format", "xml"),)
        ),
        Scenario(
            "audit-export-csv-upper",
            export,
            epath,
            auth="admin",
            expect=400,
            query=(("format", "CSV"),),
        ),
        Scenario(
            "audit-export-after-chat",
            export,
            epath,
            auth="admin",
            expect=200,
            query=(("format", "csv"),),
            before=(_chat_help,),
        ),
    ]

    # --- RAG --------------------------------------------------------------------------------
    text = b"Restart the job after fixing the dependency.\n\nThen check the plan.\n"
    s += [
        _upload("upload-anonymous", "runbook.txt", text, auth=None, expect=401),
        _upload("upload-viewer", "runbook.txt", text, auth="viewer", expect=403),
        _upload("upload-operator", "runbook.txt", text, expect=201),
        _upload(
            "upload-admin", "runbook.md", text, auth="admin", expect=201, part_type="text/markdown"
        ),
        _upload("upload-csv", "jobs.csv", b"id,name\r\nJ1,A\r\n", expect=201),
        _upload("upload-json", "data.json", b'{"a": 1}', expect=201, part_type="application/json"),
        _upload("upload-uppercase-extension", "NOTES.TXT", text, expect=201),
        _upload(
            "upload-long-paragraphs",
            "long.md",
            b"\n\n".join([b"p" * 700, b"q" * 2500, b"r" * 10, b"s" * 990]),
            expect=201,
        ),
        _upload("upload-empty-file", "empty.txt", b"", expect=201),
        _upload("upload-traversal", "../../etc/passwd.txt", b"root:x:0:0\n", expect=201),
        _upload("upload-windows-traversal", "..\\..\\boot.ini.txt", b"boot\n", expect=201),
        _upload("upload-absolute", "/var/lib/secret.md", b"secret\n", expect=201),
        _upload("upload-dotfile", ".env.txt", b"A=1\n", expect=400),
        _upload("upload-traversal-to-dotfile", "a/b/.hidden.md", b"h\n", expect=400),
        _upload("upload-bad-characters", "na<me>.txt", b"x\n", expect=400),
        _upload("upload-name-256", ("n" * 252) + ".txt", b"x\n", expect=400),
        _upload("upload-name-255", ("n" * 251) + ".txt", b"x2\n", expect=201),
        _upload("upload-trailing-slash-name", "dir/", b"x\n", expect=415),
        _upload("upload-exe", "tool.exe", b"MZ", expect=415, part_type="application/octet-stream"),
        _upload("upload-pdf-uppercase", "Report.PDF", b"%PDF", expect=415),
        _upload("upload-no-extension", "README", b"x\n", expect=415),
        _upload("upload-dot-only-extension", "file.", b"x\n", expect=415),
        _upload("upload-exe-bad-name", "../.evil.exe", b"MZ", expect=415),
        _upload("upload-not-utf8", "latin.txt", "café".encode("latin-1"), expect=400),
        _upload("upload-utf8-bom", "bom.txt", b"\xef\xbb\xbfhello\n", expect=201),
        _upload("upload-too-large", "big.txt", b"a" * (64 * 1024 + 1), expect=413),
        _upload("upload-at-limit", "limit.txt", b"b" * (64 * 1024), expect=201),
        _upload("upload-wrong-field", "x.txt", b"x\n", field_name="document", expect=400),
        _upload("upload-no-filename", None, b"x\n", expect=400),
        _upload(
            "upload-duplicate",
            "again.txt",
            b"alpha beta\n\ngamma delta\n",
            expect=409,
            before=(_first_upload,),
        ),
        _upload(
            "upload-duplicate-of-seeded",
            "copy.md",
            (RUNBOOK_DIR / "abend-recovery.md").read_bytes(),
            expect=409,
            part_type="text/markdown",
        ),
        Scenario(
            "upload-malformed-multipart",
            "POST /api/v1/rag/upload",
            f"{A}/rag/upload",
            auth="operator",
            body=b"--other\r\nnot a part at all",
            content_type="multipart/form-data; boundary=resync-parity",
            expect=400,
        ),
        Scenario(
            "upload-multipart-without-boundary",
            "POST /api/v1/rag/upload",
            f"{A}/rag/upload",
            auth="operator",
            body=b"x",
            content_type="multipart/form-data",
            expect=400,
        ),
        Scenario(
            "upload-json-body",
            "POST /api/v1/rag/upload",
            f"{A}/rag/upload",
            auth="operator",
            json={"file": "x"},
            expect=415,
        ),
        Scenario(
            "upload-no-body",
            "POST /api/v1/rag/upload",
            f"{A}/rag/upload",
            auth="operator",
            expect=415,
        ),
    ]
    # RFC 5987 extended filenames: a ``filename*`` part is a file; a quoted ``filename="..."``
    # wins over it, otherwise the last occurrence wins; the decoded name meets the same rules.
    fd = 'form-data; name="file"; '
    s += [
        _upload_disposition(
            "upload-rfc5987-filename", fd + "filename*=UTF-8''notes.txt", b"r1\n", expect=201
        ),
        _upload_disposition(
            "upload-rfc5987-language-and-escape",
            fd + "filename*=utf-8'en'my%20notes.md",
            b"r2\n",
            expect=201,
        ),
        _upload_disposition(
            "upload-rfc5987-no-charset", fd + "filename*=notes.txt", b"r3\n", expect=201
        ),
        _upload_disposition(
            "upload-rfc5987-other-charset", fd + "filename*=KOI8-R''notes.txt", b"r4\n", expect=201
        ),
        _upload_disposition(
            "upload-rfc5987-continuation",
            fd + "filename*0*=UTF-8''no; filename*1=tes.csv",
            b"r5\n",
            expect=201,
        ),
        _upload_disposition(
            "upload-rfc5987-encoded-traversal",
            fd + "filename*=UTF-8''..%2F..%2Fetc%2Fx.txt",
            b"r6\n",
            expect=201,
        ),
        _upload_disposition(
            "upload-rfc5987-quoted-plain-first",
            fd + "filename=\"plain.txt\"; filename*=UTF-8''notes.md",
            b"r7\n",
            expect=201,
        ),
        _upload_disposition(
            "upload-rfc5987-quoted-plain-last",
            fd + "filename*=UTF-8''notes.md; filename=\"plain.txt\"",
            b"r8\n",
            expect=201,
        ),
        _upload_disposition(
            "upload-rfc5987-token-plain-first",
            fd + "filename=plain.txt; filename*=UTF-8''notes.md",
            b"r9\n",
            expect=201,
        ),
        _upload_disposition(
            "upload-rfc5987-token-plain-last",
            fd + "filename*=UTF-8''notes.md; filename=plain.txt",
            b"r10\n",
            expect=201,
        ),
        _upload_disposition(
            "upload-rfc5987-extended-name",
            "form-data; name*=UTF-8''file; filename*=UTF-8''named.txt",
            b"r11\n",
            expect=201,
        ),
        _upload_disposition(
            "upload-rfc5987-non-ascii", fd + "filename*=UTF-8''caf%C3%A9.txt", b"x\n", expect=400
        ),
        _upload_disposition(
            "upload-rfc5987-latin-1", fd + "filename*=ISO-8859-1''caf%E9.txt", b"x\n", expect=400
        ),
        _upload_disposition(
            "upload-rfc5987-invalid-escape",
            fd + "filename*=UTF-8''n%FFotes.txt",
            b"x\n",
            expect=400,
        ),
        _upload_disposition(
            "upload-rfc5987-dotfile", fd + "filename*=UTF-8''.env.txt", b"x\n", expect=400
        ),
        _upload_disposition(
            "upload-rfc5987-exe", fd + "filename*=UTF-8''tool.exe", b"MZ", expect=415
        ),
        _upload_disposition(
            "upload-rfc5987-quoted-plain-exe",
            fd + "filename=\"tool.exe\"; filename*=UTF-8''notes.txt",
            b"MZ",
            expect=415,
        ),
        _upload_disposition(
            "upload-rfc5987-empty-plain",
            fd + "filename=\"\"; filename*=UTF-8''notes.txt",
            b"x\n",
            expect=415,
        ),
        _upload_disposition(
            "upload-rfc5987-quoted-extended-value",
            fd + "filename*=\"UTF-8''notes.txt\"",
            b"x\n",
            expect=415,
        ),
    ]
    files = "GET /api/v1/rag/files"
    s += _roles("rag-files", files, f"{A}/rag/files", "viewer")
    s += _pagination("rag-files", files, f"{A}/rag/files", "viewer")
    s.append(
        Scenario(
            "rag-files-after-upload",
            files,
            f"{A}/rag/files",
            auth="viewer",
            expect=200,
            before=(_first_upload,),
        )
    )
    one = "GET /api/v1/rag/files/{file_id}"
    s += _roles("rag-file", one, f"{A}/rag/files/{SEEDED_FILE}", "viewer")
    s += [
        Scenario(
            "rag-file-unknown", one, f"{A}/rag/files/{UNKNOWN_FILE}", auth="viewer", expect=404
        ),
        Scenario(
            "rag-file-not-a-uuid", one, f"{A}/rag/files/not-a-uuid", auth="viewer", expect=404
        ),
        Scenario(
            "rag-file-uploaded",
            one,
            f"{A}/rag/files/{{prev.id}}",
            auth="viewer",
            expect=200,
            before=(_first_upload,),
        ),
    ]
    remove = "DELETE /api/v1/rag/files/{file_id}"
    s += _roles("rag-delete", remove, f"{A}/rag/files/{SEEDED_FILE_2}", "admin", ok=204)
    s += [
        Scenario(
            "rag-delete-unknown", remove, f"{A}/rag/files/{UNKNOWN_FILE}", auth="admin", expect=404
        ),
        Scenario(
            "rag-delete-uploaded",
            remove,
            f"{A}/rag/files/{{prev.id}}",
            auth="admin",
            expect=204,
            before=(_first_upload,),
        ),
        Scenario(
            "rag-delete-then-get",
            one,
            f"{A}/rag/files/{SEEDED_FILE_2}",
            auth="viewer",
            expect=404,
            before=(
                Scenario("rag-delete-step", remove, f"{A}/rag/files/{SEEDED_FILE_2}", auth="admin"),
            ),
        ),
        Scenario(
            "rag-delete-then-search",
            "GET /api/v1/rag/search",
            f"{A}/rag/search",
            auth="viewer",
            expect=200,
            query=(("q", "critical path"),),
            before=(
                Scenario("rag-delete-step", remove, f"{A}/rag/files/{SEEDED_FILE_2}", auth="admin"),
            ),
        ),
    ]
    search = "GET /api/v1/rag/search"
    spath = f"{A}/rag/search"
    s += _roles("rag-search", search, spath, "viewer", query=(("q", "abend restart"),))
    searches = [
        ("plan-extension", (("q", "plan extension"),), 200),
        ("top-k-1", (("q", "job"), ("top_k", "1")), 200),
        ("top-k-20", (("q", "job workstation"), ("top_k", "20")), 200),
        ("top-k-0", (("q", "job"), ("top_k", "0")), 400),
        ("top-k-21", (("q", "job"), ("top_k", "21")), 400),
        ("top-k-text", (("q", "job"), ("top_k", "many")), 400),
        ("q-missing", (), 400),
        ("q-empty", (("q", ""),), 400),
        ("q-200", (("q", "a" * 200),), 200),
        ("q-201", (("q", "a" * 201),), 400),
        ("q-punctuation-only", (("q", "!!! ???"),), 200),
        ("q-fts-syntax", (("q", 'abend" OR NEAR(x'),), 200),
        ("q-unicode", (("q", "über naïve"),), 200),
        ("q-case", (("q", "ABEND"),), 200),
        ("no-match", (("q", "xylophone"),), 200),
        ("q-missing-and-top-k-bad", (("top_k", "0"),), 400),
    ]
    s += [
        Scenario(f"rag-search-{name}", search, spath, auth="viewer", query=query, expect=expect)
        for name, query, expect in searches
    ]
    s.append(
        Scenario(
            "rag-search-after-upload",
            search,
            spath,
            auth="viewer",
            expect=200,
            query=(("q", "gamma"),),
            before=(_first_upload,),
        )
    )

    # --- TWS status -------------------------------------------------------------------------
    s += _roles("status", "GET /api/v1/status", f"{A}/status", "viewer")
    s += [
        Scenario(
            "status-tws-error",
            "GET /api/v1/status",
            f"{A}/status",
            auth="viewer",
            expect=502,
            tws={"error_rate": 1.0},
        ),
        Scenario(
            "status-tws-reset",
            "GET /api/v1/status",
            f"{A}/status",
            auth="viewer",
            expect=502,
            tws={"reset_rate": 1.0},
        ),
        Scenario("status-slash", "(unknown)", f"{A}/status/", auth="viewer", expect=404),
    ]
    ws = "GET /api/v1/status/workstations"
    s += _roles("workstations", ws, f"{A}/status/workstations", "viewer")
    s += _pagination("workstations", ws, f"{A}/status/workstations", "viewer")
    s.append(
        Scenario(
            "workstations-tws-error",
            ws,
            f"{A}/status/workstations",
            auth="viewer",
            expect=502,
            tws={"error_rate": 1.0},
        )
    )
    jobs = "GET /api/v1/status/jobs"
    jpath = f"{A}/status/jobs"
    s += _roles("jobs", jobs, jpath, "viewer")
    s += _pagination("jobs", jobs, jpath, "viewer")
    for status in ("SUCC", "ABEND", "EXEC", "HOLD", "READY"):
        s.append(
            Scenario(
                f"jobs-{status.lower()}",
                jobs,
                jpath,
                auth="viewer",
                expect=200,
                query=(("status", status), ("limit", "5")),
            )
        )
    s += [
        Scenario(
            "jobs-bad-status", jobs, jpath, auth="viewer", expect=400, query=(("status", "FAILED"),)
        ),
        Scenario(
            "jobs-lowercase-status",
            jobs,
            jpath,
            auth="viewer",
            expect=400,
            query=(("status", "succ"),),
        ),
        Scenario(
            "jobs-workstation",
            jobs,
            jpath,
            auth="viewer",
            expect=200,
            query=(("workstation", "AGT_LNX01"),),
        ),
        Scenario(
            "jobs-unknown-workstation",
            jobs,
            jpath,
            auth="viewer",
            expect=200,
            query=(("workstation", "NOPE"),),
        ),
        Scenario(
            "jobs-last-page",
            jobs,
            jpath,
            auth="viewer",
            expect=200,
            query=(("limit", "100"), ("offset", "450")),
        ),
        Scenario("jobs-tws-error", jobs, jpath, auth="viewer", expect=502, tws={"error_rate": 1.0}),
    ]
    job = "GET /api/v1/status/jobs/{job_id}"
    s += _roles("job", job, f"{jpath}/{KNOWN_JOB_ID}", "viewer")
    s += [
        Scenario("job-abend", job, f"{jpath}/J0002", auth="viewer"),
        Scenario("job-unknown", job, f"{jpath}/J9999", auth="viewer", expect=404),
        Scenario("job-bad-id", job, f"{jpath}/bad%21id", auth="viewer", expect=400),
        Scenario("job-id-too-long", job, f"{jpath}/{'J' * 65}", auth="viewer", expect=400),
        Scenario("job-id-64", job, f"{jpath}/{'J' * 64}", auth="viewer", expect=404),
        Scenario("job-id-dot", job, f"{jpath}/J.1", auth="viewer", expect=400),
        Scenario(
            "job-tws-error",
            job,
            f"{jpath}/{KNOWN_JOB_ID}",
            auth="viewer",
            expect=502,
            tws={"error_rate": 1.0},
        ),
    ]
    log = "GET /api/v1/status/jobs/{job_id}/log"
    s += _roles("job-log", log, f"{jpath}/{KNOWN_JOB_ID}/log", "viewer")
    s += [
        Scenario("job-log-unknown", log, f"{jpath}/J9999/log", auth="viewer", expect=404),
        Scenario("job-log-bad-id", log, f"{jpath}/bad%24id/log", auth="viewer", expect=400),
    ]
    plan = "GET /api/v1/status/plan"
    s += _roles("plan", plan, f"{A}/status/plan", "viewer")
    s += [
        Scenario(
            "plan-tws-error",
            plan,
            f"{A}/status/plan",
            auth="viewer",
            expect=502,
            tws={"error_rate": 1.0},
        ),
        Scenario(
            "plan-tws-timeout",
            plan,
            f"{A}/status/plan",
            auth="viewer",
            expect=504,
            tws={"timeout_rate": 1.0, "timeout_seconds": 3.0},
        ),
        Scenario("plan-issued-by-new", plan, f"{A}/status/plan", auth="viewer@new", expect=200),
    ]
    s += _hardening()
    return s


def _hardening() -> list[Scenario]:
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


SCENARIOS: tuple[Scenario, ...] = tuple(_scenarios())
