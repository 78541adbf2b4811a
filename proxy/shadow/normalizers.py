"""Normalisers a comparison rule can name: each maps a volatile value to a stable placeholder.

A rule in ``compare_rules.toml`` says ``normalise = {"$.created_at" = "timestamp"}``; the
differ (:mod:`proxy.shadow.differ`) replaces both sides' values through the named function
before comparing them, and :mod:`proxy.shadow.rules` checks the names when it loads the file.
Imports nothing from the rest of the package.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any

__all__ = ["NORMALIZERS", "TIMESTAMP"]

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
# Claims that change on every issue; the rest (iss, aud, sub, role, typ, ...) must agree.
_VOLATILE_CLAIMS = frozenset({"jti", "sid", "iat", "exp", "nbf"})


def _shape(pattern: re.Pattern[str], placeholder: str) -> Callable[[Any], Any]:
    def normalise(value: Any) -> Any:
        if isinstance(value, str) and pattern.match(value):
            return placeholder
        return value

    return normalise


def _b64json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def _normalise_jwt(value: Any) -> Any:
    """Replace a JWT by its stable content: header alg, non-volatile claims and lifetime.

    Two tokens issued a second apart differ in every byte, but their issuer, audience,
    subject, role, type and lifetime must not; those stay visible to the comparison.
    """
    if not isinstance(value, str) or not _JWT.match(value):
        return value
    head, payload, _ = value.split(".")
    try:
        header = _b64json(head)
        claims = _b64json(payload)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return value
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return value
    stable = {k: v for k, v in sorted(claims.items()) if k not in _VOLATILE_CLAIMS}
    if isinstance(claims.get("exp"), int | float) and isinstance(claims.get("iat"), int | float):
        stable["ttl"] = claims["exp"] - claims["iat"]
    stable["has"] = sorted(k for k in claims if k in _VOLATILE_CLAIMS)
    return f"<jwt alg={header.get('alg')} {json.dumps(stable, sort_keys=True)}>"


NORMALIZERS: dict[str, Callable[[Any], Any]] = {
    # Each replaces a value of the expected shape by a placeholder and leaves anything else
    # alone, so a value of the wrong shape (an RFC 822 date, an integer id) still differs.
    "timestamp": _shape(TIMESTAMP, "<timestamp>"),
    "uuid": _shape(_UUID, "<uuid>"),
    "uuid4": _shape(_UUID4, "<uuid4>"),
    "hex32": _shape(_HEX32, "<hex32>"),
    "sha256": _shape(_SHA256, "<sha256>"),
    "request_id": _shape(_REQUEST_ID, "<request-id>"),
    "jwt": _normalise_jwt,
    "present": lambda value: "<present>",
}
