"""Hash and check passwords with argon2id.

An unknown username is checked against a dummy hash so that a login takes about as long
whether or not the user exists.
"""

from __future__ import annotations

from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["Passwords"]


class Passwords:
    """argon2id hashing with argon2-cffi's default (RFC 9106 low-memory) parameters."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    @cached_property
    def _dummy_hash(self) -> str:
        return self._hasher.hash("resync-dummy-password-for-timing")

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Return whether ``password`` matches; ``None`` burns the same time and says no."""
        try:
            self._hasher.verify(password_hash or self._dummy_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return password_hash is not None
