"""Read the bearer token from ``Authorization`` header values, as both apps read it.

A request must carry exactly one ``Authorization`` header whose value splits on whitespace into
``bearer`` (any case) and a token with no comma in it. Anything else counts as no token (401
``Missing bearer token.``). Two headers are refused rather than "first wins": a WSGI server
joins repeated headers with a comma, so the legacy app can only ever see the joined value, and
refusing both forms is the one rule both apps can keep (docs/api.md).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["bearer_token"]


def bearer_token(values: Sequence[str]) -> str | None:
    """Return the token of the one ``Authorization: Bearer <token>`` value, else ``None``."""
    if len(values) != 1:
        return None
    parts = values[0].split()
    if len(parts) != 2 or parts[0].lower() != "bearer" or "," in parts[1]:
        return None
    return parts[1]
