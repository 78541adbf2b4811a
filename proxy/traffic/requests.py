"""Rebuild a replayable request from a capture record: headers cleaned, credential left out.

The capture kept the request as the client sent it, minus its secrets. A replay must not send
the ``[REDACTED]`` placeholders as if they were credentials: credential headers (and any header
whose value was redacted) are dropped, hop-by-hop and framing headers are rebuilt by whoever
sends the request, and the ``Authorization`` header is chosen by the replay from the captured
*auth kind*: a fresh token of the captured role, a token both sides must refuse, or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proxy.modes import SAFE_METHODS
from proxy.shadow.redaction import REDACTED, SECRET_HEADERS, is_secret_name
from proxy.traffic.records import AUTH_INVALID, AUTH_NONE, AUTH_OTHER, AUTH_ROLE, decode_body

__all__ = ["INVALID_BEARER", "OTHER_SCHEME", "ReplayRequest"]

#: Sent for a captured token that did not verify: both sides must refuse it (401).
INVALID_BEARER = "Bearer replayed.invalid.token"
#: Sent for a captured credential of another scheme (Basic...): refused by both sides too.
OTHER_SCHEME = "Basic cmVwbGF5OnJlZGFjdGVk"

_REBUILT = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te"}
)


@dataclass(frozen=True)
class ReplayRequest:
    """One captured request, ready to send to either side."""

    capture_id: int
    route: str
    method: str
    raw_path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    auth_kind: str
    role: str | None
    redacted: bool
    captured_status: int | None = None

    @property
    def safe(self) -> bool:
        """Tell whether the method cannot write (GET, HEAD, OPTIONS)."""
        return self.method in SAFE_METHODS

    @property
    def target(self) -> str:
        """Return the path and query as sent (``/api/v1/x?limit=5``)."""
        return self.raw_path + (f"?{self.query}" if self.query else "")

    def describe(self) -> str:
        """Return the request on one line (for reports)."""
        who = self.role if self.auth_kind == AUTH_ROLE else self.auth_kind
        extra = f" body={len(self.body)} bytes" if self.body else ""
        return f"{self.method} {self.target} auth={who}{extra}"

    def authorization(self, token: str | None) -> str | None:
        """Return the ``Authorization`` value to send, given the role's token (if any)."""
        if self.auth_kind == AUTH_NONE:
            return None
        if self.auth_kind == AUTH_ROLE:
            return f"Bearer {token}" if token else None
        if self.auth_kind == AUTH_INVALID:
            return INVALID_BEARER
        return OTHER_SCHEME

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ReplayRequest:
        """Build the request a capture record (``proxy.traffic.records``) describes."""
        request = record["request"]
        headers = []
        for name, value in request.get("headers", []):
            lowered = str(name).lower()
            if lowered in SECRET_HEADERS or is_secret_name(lowered) or lowered in _REBUILT:
                continue
            if REDACTED in str(value):
                continue
            headers.append((lowered, str(value)))
        auth = record.get("auth") or {}
        kind = auth.get("kind", AUTH_NONE)
        if kind not in (AUTH_NONE, AUTH_ROLE, AUTH_INVALID, AUTH_OTHER):
            kind = AUTH_INVALID
        body_view = request.get("body") or {}
        response = record.get("response") or {}
        return cls(
            capture_id=int(record.get("id") or 0),
            route=str(record["route"]),
            method=str(request["method"]).upper(),
            raw_path=str(request["path"]),
            query=str(request.get("query") or ""),
            headers=tuple(headers),
            body=decode_body(body_view),
            auth_kind=kind,
            role=auth.get("role"),
            redacted=bool(body_view.get("redacted")),
            captured_status=response.get("status"),
        )
