"""Hash passwords (argon2id) and issue and check JWTs the way both apps do.

Tokens are HS256 only (the algorithm list is fixed, so ``alg: none`` or RS/HS confusion cannot
pass), carry ``iss``/``aud``/``sub``/``role``/``typ``/``jti``/``sid``/``iat``/``exp`` and get 30 s
of leeway. Revocation and the user's current role are checked against the shared database by the
caller; this module only does the cryptography. Argon2 is deliberately slow, so verification
runs in a worker thread and never blocks the event loop.

argon2-cffi (and its cffi bindings, about 1.5 MiB resident) is imported on the first hash or
verification, not when the app is built: a server that only checks bearer tokens never loads it.
"""

from __future__ import annotations

import functools
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import anyio.to_thread
import jwt

from resync_fastapi.core.exceptions import InvalidToken

if TYPE_CHECKING:
    from argon2 import PasswordHasher

__all__ = [
    "ACCESS_TOKEN_SECONDS",
    "REFRESH_TOKEN_SECONDS",
    "TokenClaims",
    "TokenPair",
    "TokenService",
    "hash_password",
    "verify_password",
]

ISSUER = "resync"
AUDIENCE = "resync-api"
ALGORITHM = "HS256"
LEEWAY_SECONDS = 30
ACCESS_TOKEN_SECONDS = 30 * 60
REFRESH_TOKEN_SECONDS = 7 * 24 * 3600
_REQUIRED_CLAIMS = ["iss", "aud", "sub", "role", "typ", "jti", "sid", "iat", "exp"]
MAX_CLAIM_LENGTH = 64


@functools.cache
def _hasher() -> PasswordHasher:
    """The one argon2id hasher (argon2-cffi's defaults), imported and built on first use."""
    from argon2 import PasswordHasher

    return PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    # Verified when the username is unknown, so a miss costs as much time as a wrong password.
    return _hasher().hash("resync-timing-equaliser")


TokenType = Literal["access", "refresh"]
_LIFETIMES: dict[str, int] = {"access": ACCESS_TOKEN_SECONDS, "refresh": REFRESH_TOKEN_SECONDS}


async def hash_password(password: str) -> str:
    """Return the argon2id hash of ``password`` (computed off the event loop)."""
    return await anyio.to_thread.run_sync(_hash, password)


def _hash(password: str) -> str:
    return _hasher().hash(password)


def _verify(password_hash: str | None, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return (
            _hasher().verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Check ``password`` against ``password_hash`` (None: unknown user, always False)."""
    return await anyio.to_thread.run_sync(_verify, password_hash, password)


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """The claims of a token that passed the cryptographic and time checks."""

    subject: str
    role: str
    token_type: str
    token_id: str
    session_id: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenPair:
    """An access token and its refresh token, sharing one ``sid``."""

    access_token: str
    refresh_token: str
    expires_in: int = ACCESS_TOKEN_SECONDS


class TokenService:
    """Sign and verify the project's JWTs with one secret."""

    def __init__(self, secret_key: str, *, cache_size: int = 4096) -> None:
        self._key = secret_key
        # Verified tokens, so a client reusing its token skips the signature and claim checks
        # (only expiry is re-checked); bounded, least recently used out first.
        self._verified: OrderedDict[str, TokenClaims] = OrderedDict()
        self._cache_size = cache_size

    def issue_pair(self, username: str, role: str, *, now: datetime | None = None) -> TokenPair:
        """Return a fresh access/refresh pair for ``username``."""
        issued = now or datetime.now(UTC)
        session_id = uuid.uuid4().hex
        return TokenPair(
            access_token=self._encode(username, role, "access", session_id, issued),
            refresh_token=self._encode(username, role, "refresh", session_id, issued),
        )

    def _encode(
        self, username: str, role: str, token_type: TokenType, session_id: str, issued: datetime
    ) -> str:
        lifetime = _LIFETIMES[token_type]
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": username,
            "role": role,
            "typ": token_type,
            "jti": uuid.uuid4().hex,
            "sid": session_id,
            "iat": int(issued.timestamp()),
            "exp": int(issued.timestamp()) + lifetime,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify(self, token: str, expected_type: TokenType) -> TokenClaims:
        """Decode ``token`` and check signature, issuer, audience, expiry and type."""
        cached = self._verified.get(token)
        if cached is not None:
            now = datetime.now(UTC).replace(tzinfo=None)
            if cached.expires_at + timedelta(seconds=LEEWAY_SECONDS) <= now:
                self._verified.pop(token, None)
                raise InvalidToken()
            if cached.token_type != expected_type:
                raise InvalidToken()
            self._verified.move_to_end(token)
            return cached
        claims = self._decode(token)
        if claims.token_type != expected_type:
            raise InvalidToken()
        self._verified[token] = claims
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return claims

    def _decode(self, token: str) -> TokenClaims:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY_SECONDS,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken() from exc
        try:
            subject, role, token_type, token_id, session_id = (
                _text(claims[name]) for name in ("sub", "role", "typ", "jti", "sid")
            )
            issued_at, expires_at = int(claims["iat"]), int(claims["exp"])
        except (TypeError, ValueError) as exc:
            raise InvalidToken() from exc
        return TokenClaims(
            subject=subject,
            role=role,
            token_type=token_type,
            token_id=token_id,
            session_id=session_id,
            issued_at=datetime.fromtimestamp(issued_at, UTC).replace(tzinfo=None),
            expires_at=datetime.fromtimestamp(expires_at, UTC).replace(tzinfo=None),
        )


def _text(value: object) -> str:
    # Identifiers end up in SQL lookups and a 64-character column: refuse anything odd.
    if not isinstance(value, str) or not value or len(value) > MAX_CLAIM_LENGTH:
        raise ValueError("claim must be a non-empty string of at most 64 characters")
    return value
