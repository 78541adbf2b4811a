"""Decide which side answers a request, and which side (if any) shadows it.

The decision depends on the route's flag and, for canary routes, on who is calling: a stable
bucket in ``0..99`` derived from the bearer token's ``sub`` (read without verifying the token: it
only picks a bucket, it grants nothing) or, without one, the client address. A caller whose
bucket is below the percentage goes to the new side, so raising the percentage only ever moves
callers from legacy to new, never back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from proxy.inventory import LEGACY, NEW
from proxy.modes import SAFE_METHODS, Mode, RouteFlag
from proxy.types import Scope

__all__ = [
    "LEGACY_ONLY",
    "NEW_ONLY",
    "SAFE_METHODS",
    "Decision",
    "bucket_for",
    "caller_identity",
    "canary_bucket",
    "decide",
]


@dataclass(frozen=True, slots=True)
class Decision:
    """The side that answers (``primary``) and the side run on a copy for comparison."""

    primary: str
    shadow: str | None = None


LEGACY_ONLY = Decision(LEGACY)
NEW_ONLY = Decision(NEW)
_SHADOWED_BY_NEW = Decision(LEGACY, NEW)
_SHADOWED_BY_LEGACY = Decision(NEW, LEGACY)


def bucket_for(identity: str) -> int:
    """Return the stable canary bucket (0..99) of a caller identity."""
    digest = hashlib.blake2b(identity.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 100


@lru_cache(maxsize=4096)
def _token_subject(token: str) -> str | None:
    """Read ``sub`` from a JWT's payload without verifying it (bucketing only)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    segment = parts[1]
    try:
        payload: Any = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError):
        return None
    subject = payload.get("sub") if isinstance(payload, dict) else None
    return subject if isinstance(subject, str) and subject else None


@lru_cache(maxsize=4096)
def _bearer_identity(authorization: bytes) -> str | None:
    """Return ``sub:<subject>`` for an ``Authorization: Bearer <jwt>`` value (cached per value)."""
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer":
        return None
    subject = _token_subject(token.strip())
    return "sub:" + subject if subject is not None else None


def caller_identity(scope: Scope) -> str:
    """Return who is calling, for bucketing: ``sub:<subject>``, ``addr:<host>`` or ``anonymous``."""
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            identity = _bearer_identity(value)
            if identity is not None:
                return identity
            break
    client = scope.get("client")
    if client:
        return "addr:" + str(client[0])
    return "anonymous"


@lru_cache(maxsize=65536)
def _cached_bucket(identity: str) -> int:
    return bucket_for(identity)


def canary_bucket(scope: Scope) -> int:
    """Return the calling user's canary bucket (0..99)."""
    return _cached_bucket(caller_identity(scope))


def decide(flag: RouteFlag, scope: Scope) -> Decision:
    """Return the decision for one request on a route with ``flag``.

    Shadow modes only shadow unsafe methods when the route opts in to dry-run (the candidate then
    runs in a rolled-back transaction); otherwise the candidate would write twice.
    """
    mode = flag.mode
    if mode is Mode.LEGACY:
        return LEGACY_ONLY
    if mode is Mode.NEW:
        return NEW_ONLY
    if mode is Mode.CANARY:
        if flag.percent <= 0:
            return LEGACY_ONLY
        if flag.percent >= 100:
            return NEW_ONLY
        return NEW_ONLY if canary_bucket(scope) < flag.percent else LEGACY_ONLY
    shadowed = scope.get("method", "GET") in SAFE_METHODS or flag.dry_run
    if mode is Mode.SHADOW:
        return _SHADOWED_BY_NEW if shadowed else LEGACY_ONLY
    return _SHADOWED_BY_LEGACY if shadowed else NEW_ONLY
