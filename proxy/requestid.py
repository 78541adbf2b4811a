"""Give every request one id that the proxy and both apps log.

A client's ``X-Request-ID`` is kept when it is 1..64 characters of ``[A-Za-z0-9._-]``; otherwise
the proxy generates one (uuid4 hex) and rewrites the request headers, so the app behind it sees
the same id instead of inventing its own. The dry-run header is stripped here too: only the proxy
may ask an app to roll back, and only with the per-process key it adds to shadow requests itself.
"""

from __future__ import annotations

import os
import re

from proxy.types import Scope

__all__ = ["DRY_RUN_HEADER", "REQUEST_ID_HEADER", "ensure_request_id", "new_request_id"]

REQUEST_ID_HEADER = b"x-request-id"
DRY_RUN_HEADER = b"x-resync-dry-run"
_VALID_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")


def new_request_id() -> bytes:
    """Return a random uuid4 as 32 hex digits (what ``uuid.uuid4().hex`` gives, 4x faster)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex().encode("ascii")


def ensure_request_id(scope: Scope) -> bytes:
    """Return the request's id, rewriting ``scope["headers"]`` when it has to change them."""
    headers = scope["headers"]
    request_id: bytes | None = None
    rewrite = False
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if request_id is None and _VALID_ID.fullmatch(value):
                request_id = value
            else:
                rewrite = True
        elif name == DRY_RUN_HEADER:
            rewrite = True
    if request_id is None:
        request_id = new_request_id()
        rewrite = True
    if rewrite:
        kept = [
            (name, value)
            for name, value in headers
            if name != REQUEST_ID_HEADER and name != DRY_RUN_HEADER
        ]
        kept.append((REQUEST_ID_HEADER, request_id))
        scope["headers"] = kept
    return request_id
