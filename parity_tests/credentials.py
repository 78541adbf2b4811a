"""Turn a scenario's named credentials into ``Authorization`` headers.

Role tokens are real: issued by logging in on each implementation (``viewer`` by the legacy app,
``viewer@new`` by the FastAPI app), so every scenario also checks that a token issued by one
side is accepted by the other. Broken tokens are minted here with the contract's claims (HS256,
``iss`` resync, ``aud`` resync-api) and one thing wrong each.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

__all__ = ["Credentials", "TokenPair"]


@dataclass(frozen=True)
class TokenPair:
    """An access and a refresh token, as a login answered them."""

    access: str
    refresh: str


def _claims(secret_role: str, sub: str, typ: str = "access", **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "resync",
        "aud": "resync-api",
        "sub": sub,
        "role": secret_role,
        "typ": typ,
        "jti": uuid.uuid4().hex,
        "sid": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 1800,
    }
    claims.update(overrides)
    return claims


def _unsigned(claims: Mapping[str, Any]) -> str:
    def part(data: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@dataclass
class Credentials:
    """Named credentials for one parity run (tokens live for its duration)."""

    secret_key: str
    pairs: dict[str, TokenPair] = field(default_factory=dict)  # "viewer", "viewer@new", ...
    broken: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # name -> why it was not issued

    def mint_broken(self) -> None:
        """Mint one refused token per way of being wrong (see ``BROKEN_CREDENTIALS``)."""
        key = self.secret_key
        hour_ago = int(time.time()) - 3600
        self.broken = {
            "expired": jwt.encode(
                _claims("viewer", "viewer", iat=hour_ago - 1800, exp=hour_ago), key, "HS256"
            ),
            "bad-signature": jwt.encode(
                _claims("viewer", "viewer"), "another-secret-key-of-32-bytes-0000", "HS256"
            ),
            "wrong-audience": jwt.encode(_claims("viewer", "viewer", aud="other"), key, "HS256"),
            "stale-role": jwt.encode(_claims("admin", "viewer"), key, "HS256"),
            "unknown-user": jwt.encode(_claims("viewer", "ghost"), key, "HS256"),
            "alg-none": _unsigned(_claims("viewer", "viewer")),
            "not-a-jwt": "abc.def",
        }
        if "viewer" in self.pairs:
            self.broken["refresh-as-access"] = self.pairs["viewer"].refresh

    def tokens(self) -> dict[str, str]:
        """Return ``{"refresh:viewer": ..., "access:viewer": ...}`` for JSON bodies."""
        found: dict[str, str] = {}
        for name, pair in self.pairs.items():
            found[f"access:{name}"] = pair.access
            found[f"refresh:{name}"] = pair.refresh
        return found

    def require(self, names: list[str]) -> None:
        """Raise LookupError when a named token was not issued in this run."""
        for name in names:
            if name not in self.pairs:
                self._pair(name)

    def authorization(self, auth: str | None) -> str | None:
        """Return the ``Authorization`` header value for a scenario's ``auth``, or None."""
        if auth is None:
            return None
        if auth == "empty-bearer":
            return "Bearer "
        if auth == "basic":
            return "Basic " + base64.b64encode(b"viewer:resync-viewer-dev").decode()
        if auth.startswith("twice:"):  # the harness sends this header twice
            return self.authorization(auth.split(":", 1)[1])
        if auth.startswith("comma:"):  # two values joined, as a WSGI server joins two headers
            token = self._pair(auth.split(":", 1)[1]).access
            return f"Bearer {token},Bearer {token}"
        if auth.startswith("lowercase-bearer:"):
            return "bearer " + self._pair(auth.split(":", 1)[1]).access
        if auth in self.broken:
            return f"Bearer {self.broken[auth]}"
        return f"Bearer {self._pair(auth).access}"

    def _pair(self, name: str) -> TokenPair:
        try:
            return self.pairs[name]
        except KeyError:
            reason = self.unavailable.get(name, "never issued")
            raise LookupError(f"no token for {name!r} in this run: {reason}") from None
