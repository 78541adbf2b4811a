"""Give every request one id that the proxy and both apps log.

A client's ``X-Request-ID`` is kept when it is 1..64 characters of ``[A-Za-z0-9._-]``; otherwise
the proxy generates one (uuid4 hex) and rewrites the request headers, so the app behind it sees
the same id instead of inventing its own. The dry-run header is stripped here too: only the proxy
may ask an app to roll back, and only with the per-process key it adds to shadow requests itself.
"""

from __future__ import annotations

import re
from random import getrandbits

from proxy.shadow.names import DRY_RUN_HEADER
from proxy.types import Scope

__all__ = ["DRY_RUN_HEADER", "REQUEST_ID_HEADER", "ensure_request_id", "new_request_id"]

REQUEST_ID_HEADER = b"x-request-id"
_VALID_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
# RFC 4122 version 4: version nibble 0100 (bits 76..79), variant 10 (bits 62..63).
_UUID4_CLEAR = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID4_SET = (0x4 << 76) | (0x2 << 62)


def new_request_id() -> bytes:
    """Return a random version-4 UUID as 32 hex digits, without a system call.

    The bits come from :mod:`random` (reseeded from the OS in every forked child), not from
    ``os.urandom``: a request id needs to be unique, not secret, and ``getrandom()`` releases the
    GIL on the event loop's thread. When the legacy app's threads are busy, every such release
    costs the loop up to a switch interval (5 ms) to win the GIL back, and requests served on the
    loop (the new app's) starve behind the legacy ones.
    """
    value = (getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET
    return b"%032x" % value


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
