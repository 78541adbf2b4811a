"""Open one connection per request and finish its transaction: commit, or roll back.

A request carrying ``X-Resync-Dry-Run`` equal to the configured ``RESYNC_DRY_RUN_KEY`` is handled
normally but rolled back (the proxy's shadow mode runs unsafe methods that way).
"""

from __future__ import annotations

import hmac

from starlette.types import Scope

from resync_fastapi.db.async_core import AsyncConnection

__all__ = ["DRY_RUN_HEADER", "finish", "is_dry_run"]

DRY_RUN_HEADER = b"x-resync-dry-run"


def is_dry_run(scope: Scope, dry_run_key: str | None) -> bool:
    """True if the request asks for a dry run with the right key."""
    if not dry_run_key:
        return False
    expected = dry_run_key.encode("utf-8")
    for name, value in scope.get("headers", ()):
        if name == DRY_RUN_HEADER:
            return hmac.compare_digest(value, expected)
    return False


async def finish(conn: AsyncConnection, *, dry_run: bool) -> None:
    """Commit the connection's transaction, or roll it back for a dry run."""
    if not conn.in_transaction():
        return
    if dry_run:
        await conn.rollback()
    else:
        await conn.commit()
