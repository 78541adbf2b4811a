"""Issue and check the API's JWTs (HS256 only, the contract's claims plus a pair id).

Both tokens of a pair carry the same ``sid`` so logout can revoke the pair with one row;
each token has its own ``jti`` so refresh can revoke just the refresh token it consumed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

__all__ = [
    "ACCESS_TTL",
    "REFRESH_TTL",
    "Claims",
    "InvalidToken",
    "TokenPair",
    "TokenService",
]

ISSUER = "resync"
AUDIENCE = "resync-api"
ALGORITHM = "HS256"
LEEWAY_SECONDS = 30
ACCESS_TTL = timedelta(minutes=30)
REFRESH_TTL = timedelta(days=7)
_REQUIRED = ["iss", "aud", "sub", "role", "typ", "jti", "sid", "iat", "exp"]


class InvalidToken(Exception):
    """The token is malformed, forged, expired or of the wrong type."""


@dataclass(frozen=True)
class Claims:
    """What a verified token says."""

    sub: str
    role: str
    typ: str
    jti: str
    sid: str
    iat: int
    exp: int

    @property
    def expires_at(self) -> datetime:
        """``exp`` as naive UTC (how the database stores time)."""
        return datetime.fromtimestamp(self.exp, UTC).replace(tzinfo=None)

    @property
    def issued_at(self) -> datetime:
        """``iat`` as naive UTC."""
        return datetime.fromtimestamp(self.iat, UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class TokenPair:
    """A freshly issued access and refresh token."""

    access_token: str
    refresh_token: str
    sid: str


class TokenService:
    """Sign and verify tokens with one HS256 secret."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def _encode(
        self, username: str, role: str, typ: str, sid: str, now: int, ttl: timedelta
    ) -> str:
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": username,
            "role": role,
            "typ": typ,
            "jti": uuid.uuid4().hex,
            "sid": sid,
            "iat": now,
            "exp": now + int(ttl.total_seconds()),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def issue_pair(self, username: str, role: str, now: datetime | None = None) -> TokenPair:
        """Issue an access token (30 minutes) and a refresh token (7 days) sharing a ``sid``."""
        issued = int((now or datetime.now(UTC)).timestamp())
        sid = uuid.uuid4().hex
        return TokenPair(
            access_token=self._encode(username, role, "access", sid, issued, ACCESS_TTL),
            refresh_token=self._encode(username, role, "refresh", sid, issued, REFRESH_TTL),
            sid=sid,
        )

    def verify(self, token: str, expected_type: str) -> Claims:
        """Return the claims of a valid token of ``expected_type``; raise InvalidToken otherwise."""
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY_SECONDS,
                options={"require": _REQUIRED},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        try:
            claims = Claims(
                sub=_text(payload["sub"]),
                role=_text(payload["role"]),
                typ=_text(payload["typ"]),
                jti=_text(payload["jti"]),
                sid=_text(payload["sid"]),
                iat=int(payload["iat"]),
                exp=int(payload["exp"]),
            )
        except (TypeError, ValueError) as exc:
            raise InvalidToken("malformed claims") from exc
        if claims.typ != expected_type:
            raise InvalidToken(f"expected a {expected_type} token")
        return claims


def _text(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ValueError("claim must be a non-empty string of at most 64 characters")
    return value
