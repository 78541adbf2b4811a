"""Passwords and tokens without the HTTP layer."""

from __future__ import annotations

import anyio
import jwt
import pytest

from resync_fastapi.core.exceptions import InvalidToken
from resync_fastapi.core.security import TokenService, hash_password, verify_password

SECRET = "unit-test-secret-key-that-is-long-enough-000"


def test_password_hashes_are_argon2id_and_verify() -> None:
    async def scenario() -> tuple[str, bool, bool, bool]:
        hashed = await hash_password("correct horse")
        return (
            hashed,
            await verify_password(hashed, "correct horse"),
            await verify_password(hashed, "wrong"),
            await verify_password(None, "correct horse"),
        )

    hashed, right, wrong, unknown = anyio.run(scenario)
    assert hashed.startswith("$argon2id$")
    assert (right, wrong, unknown) == (True, False, False)


def test_a_pair_round_trips_and_types_are_enforced() -> None:
    service = TokenService(SECRET)
    pair = service.issue_pair("alice", "operator")
    access = service.verify(pair.access_token, "access")
    refresh = service.verify(pair.refresh_token, "refresh")
    assert (access.subject, access.role, access.token_type) == ("alice", "operator", "access")
    assert access.session_id == refresh.session_id
    assert access.token_id != refresh.token_id
    with pytest.raises(InvalidToken):
        service.verify(pair.refresh_token, "access")
    with pytest.raises(InvalidToken):
        service.verify(pair.access_token, "refresh")


def test_tokens_from_another_secret_are_refused() -> None:
    token = TokenService("another-secret-key-that-is-long-enough-0").issue_pair("a", "viewer")
    with pytest.raises(InvalidToken):
        TokenService(SECRET).verify(token.access_token, "access")


def test_the_header_names_hs256_only() -> None:
    pair = TokenService(SECRET).issue_pair("a", "viewer")
    assert jwt.get_unverified_header(pair.access_token) == {"alg": "HS256", "typ": "JWT"}


def test_a_cached_token_is_still_checked_for_type_and_expiry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import UTC, datetime, timedelta

    from resync_fastapi.core import security

    service = TokenService(SECRET)
    pair = service.issue_pair("a", "viewer")
    first = service.verify(pair.access_token, "access")
    assert service.verify(pair.access_token, "access") is first  # served from the cache
    with pytest.raises(InvalidToken):
        service.verify(pair.access_token, "refresh")
    later = datetime.now(UTC) + timedelta(minutes=31)

    class _Later(datetime):
        @classmethod
        def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
            return later

    monkeypatch.setattr(security, "datetime", _Later)
    with pytest.raises(InvalidToken):
        service.verify(pair.access_token, "access")


def test_the_cache_is_bounded() -> None:
    service = TokenService(SECRET, cache_size=2)
    tokens = [service.issue_pair(f"u{n}", "viewer").access_token for n in range(3)]
    for token in tokens:
        service.verify(token, "access")
    assert len(service._verified) == 2
