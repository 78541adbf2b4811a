"""Stand in for the strangler proxy's admin API until ``proxy.resync`` lands.

Implements the agreed contract (``/_strangler/*`` admin API, ``POST /api/v1/auth/login`` against
the seeded users of a real SQLite database with real argon2 hashes and real HS256 tokens, and a
dispatcher answering ``X-Served-By`` by each route's mode) so the dashboard can be driven end to
end before the real proxy exists. The tests switch to the real proxy when it is importable.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy import create_engine, text

from proxy.dashboard import mount_dashboard

MODES = ("legacy", "new", "canary", "shadow", "shadow-new")
INVENTORY = [
    ("GET", "/api/v1/agents", ("legacy", "new")),
    ("GET", "/api/v1/agents/{agent_id}", ("legacy", "new")),
    ("GET", "/api/v1/audit/flags", ("legacy", "new")),
    ("POST", "/api/v1/chat", ("legacy", "new")),
    ("GET", "/api/v1/chat/history", ("legacy", "new")),
    ("GET", "/api/v1/status", ("legacy",)),
    ("WEBSOCKET", "/api/v1/ws/chat", ("new",)),
]


class Problem(Exception):
    """An HTTP problem answer."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class Flags:
    version: int = 1
    modes: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    hits: dict[tuple[str, str], list[tuple[float, float, int]]] = field(
        default_factory=lambda: defaultdict(list)
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(method: str, path: str) -> str:
    return f"{method} {path}"


def admin_actor(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """Return the admin's username from the bearer token, or raise the 401/403 problem."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Problem(401, "Missing bearer token.")
    try:
        claims = jwt.decode(
            authorization[7:],
            request.app.state.secret,
            algorithms=["HS256"],
            audience="resync-api",
            issuer="resync",
        )
    except jwt.PyJWTError as exc:
        raise Problem(401, "Invalid or expired token.") from exc
    if claims.get("role") != "admin":
        raise Problem(403, "This action requires the admin role.")
    return str(claims["sub"])


Admin = Annotated[str, Depends(admin_actor)]


def create_standin_proxy(database_url: str, secret: str) -> FastAPI:
    """Build the stand-in: login, the admin API contract and a mode-aware dispatcher."""
    engine = create_engine(database_url)
    hasher = PasswordHasher()
    flags = Flags()
    for method, path, sides in INVENTORY:
        flags.modes[_key(method, path)] = {
            "mode": "new" if sides == ("new",) else "legacy",
            "percent": 0,
            "dry_run": False,
            "updated_at": None,
            "updated_by": None,
        }
    app = FastAPI()
    app.state.secret = secret

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return JSONResponse(
            {
                "type": "about:blank",
                "title": str(exc.status),
                "status": exc.status,
                "detail": exc.detail,
                "instance": request.url.path,
            },
            status_code=exc.status,
            media_type="application/problem+json",
        )

    def route_body(key: str) -> dict[str, Any]:
        method, path = key.split(" ", 1)
        sides = next(s for m, p, s in INVENTORY if (m, p) == (method, path))
        return {
            "route": key,
            "method": method,
            "path": path,
            "sides": list(sides),
            "websocket": method == "WEBSOCKET",
            **flags.modes[key],
        }

    def apply(key: str, mode: str, percent: int, actor: str, reason: str) -> None:
        old = flags.modes[key]
        flags.events.insert(
            0,
            {
                "id": len(flags.events) + 1,
                "version": flags.version,
                "route": key,
                "from": old["mode"],
                "to": mode,
                "percent": percent,
                "actor": actor,
                "reason": reason,
                "at": _now(),
            },
        )
        flags.modes[key] = {
            **old,
            "mode": mode,
            "percent": percent,
            "updated_at": _now(),
            "updated_by": actor,
        }

    @app.post("/api/v1/auth/login")
    def login(body: dict[str, Any]) -> dict[str, Any]:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT password_hash, role FROM users WHERE username = :u"),
                {"u": body.get("username")},
            ).first()
        try:
            if row is None or not hasher.verify(row[0], str(body.get("password"))):
                raise Problem(401, "Invalid username or password.")
        except VerificationError as exc:
            raise Problem(401, "Invalid username or password.") from exc
        now = int(time.time())
        claims = {
            "iss": "resync",
            "aud": "resync-api",
            "sub": body["username"],
            "role": row[1],
            "typ": "access",
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + 1800,
        }
        return {
            "access_token": jwt.encode(claims, secret, algorithm="HS256"),
            "refresh_token": "",
            "token_type": "bearer",
            "expires_in": 1800,
        }

    @app.post("/api/v1/auth/logout", status_code=204)
    def logout() -> None:
        return None

    @app.get("/_strangler/routes")
    def routes(actor: Admin) -> dict[str, Any]:
        keys = sorted(flags.modes, key=lambda k: (k.split(" ", 1)[1], k.split(" ", 1)[0]))
        return {"version": flags.version, "routes": [route_body(k) for k in keys]}

    @app.post("/_strangler/routes")
    def set_route(body: dict[str, Any], actor: Admin) -> dict[str, Any]:
        key, mode = body.get("route"), body.get("mode")
        reason = str(body.get("reason") or "").strip()
        percent = int(body.get("percent") or 0)
        if key not in flags.modes:
            raise Problem(400, f"Unknown route {key}.")
        if mode not in MODES or not 0 <= percent <= 100 or not reason:
            raise Problem(400, "The request has invalid fields.")
        if "expected_version" in body and body["expected_version"] != flags.version:
            raise Problem(409, "The flag table changed.")
        if len(route_body(key)["sides"]) < 2 and mode not in route_body(key)["sides"]:
            raise Problem(400, f"Mode {mode} needs a side that does not serve {key}.")
        flags.version += 1
        apply(key, mode, percent if mode == "canary" else 0, actor, reason)
        return {**route_body(key), "version": flags.version}

    @app.post("/_strangler/kill-switch")
    def kill_switch(body: dict[str, Any], actor: Admin) -> dict[str, Any]:
        reason = str(body.get("reason") or "").strip()
        if not reason:
            raise Problem(400, "The request has invalid fields.")
        flags.version += 1
        changed = 0
        for key in list(flags.modes):
            if "legacy" in route_body(key)["sides"] and flags.modes[key]["mode"] != "legacy":
                apply(key, "legacy", 0, actor, reason)
                changed += 1
        return {"version": flags.version, "changed": changed}

    @app.get("/_strangler/events")
    def events(actor: Admin, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        return {
            "items": flags.events[offset : offset + limit],
            "total": len(flags.events),
            "limit": limit,
            "offset": offset,
        }

    @app.get("/_strangler/stats")
    def stats(actor: Admin) -> dict[str, Any]:
        now = time.monotonic()
        out: dict[str, dict[str, Any]] = {}
        for (key, side), hits in flags.hits.items():
            recent = [h for h in hits if now - h[0] <= 60]
            if not recent:
                continue
            durations = sorted(h[1] for h in recent)
            out.setdefault(key, {})[side] = {
                "requests": len(recent),
                "rps": len(recent) / 60,
                "p95_ms": durations[max(0, int(len(durations) * 0.95) - 1)],
                "error_rate": sum(h[2] >= 500 for h in recent) / len(recent),
            }
        return {"window_seconds": 60, "routes": out}

    @app.get("/_strangler/progress")
    def progress(actor: Admin) -> dict[str, Any]:
        by_mode = dict.fromkeys(MODES, 0)
        for value in flags.modes.values():
            by_mode[value["mode"]] += 1
        return {
            "total": len(flags.modes),
            "by_mode": by_mode,
            "parity": {"covered": 4, "passing": None},
        }

    @app.get("/_strangler/mismatches")
    def mismatches(actor: Admin, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        return {"items": [], "total": 0, "limit": limit, "offset": offset}

    @app.get("/_strangler/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "store": "ok", "version": flags.version}

    mount_dashboard(app)

    @app.api_route("/api/v1/{rest:path}", methods=["GET", "POST"])
    def dispatch(rest: str, request: Request) -> JSONResponse:
        started = time.monotonic()
        path = "/api/v1/" + rest
        for method, template, _sides in INVENTORY:
            pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
            if method == request.method and re.match(pattern, path):
                key = _key(method, template)
                break
        else:
            raise Problem(404, "The requested URL was not found.")
        flag = flags.modes[key]
        side = {"new": "new", "shadow-new": "new"}.get(flag["mode"], "legacy")
        if flag["mode"] == "canary":
            client = request.client.host if request.client else ""
            bucket = hashlib.blake2b(client.encode(), digest_size=2).digest()[0] % 100
            side = "new" if bucket < flag["percent"] else "legacy"
        flags.hits[(key, side)].append((started, (time.monotonic() - started) * 1000, 200))
        return JSONResponse({"served_by": side}, headers={"X-Served-By": side, "X-Route": key})

    return app


def create_from_env() -> FastAPI:
    """Build the stand-in from ``RESYNC_DATABASE_URL`` and ``RESYNC_SECRET_KEY`` (for uvicorn)."""
    import os

    return create_standin_proxy(os.environ["RESYNC_DATABASE_URL"], os.environ["RESYNC_SECRET_KEY"])
