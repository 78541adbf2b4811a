"""The scenario type: one request sent to both implementations, and how its body is encoded.

A scenario names the route key it exercises (as the route inventory spells it), the request
(path, query, body, the credentials to present) and the status it is meant to reach, which only
checks that the scenario still exercises what it says; parity itself is "both sides answer
alike". ``before`` steps run first on the same side (failed logins before a lockout, an upload
before its duplicate); ``{prev.id}`` in a path is the ``id`` of the last step's JSON answer.

Credentials are named, not embedded: ``viewer``, ``operator``, ``admin`` are tokens the legacy
app issued; ``viewer@new``... the FastAPI app issued; the rest are deliberately broken tokens
(see :data:`BROKEN_CREDENTIALS`). ``refresh:viewer`` in a JSON body is that user's refresh token.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BROKEN_CREDENTIALS",
    "MULTIPART_BOUNDARY",
    "NO_BODY",
    "ROLES",
    "ROLE_RANK",
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
