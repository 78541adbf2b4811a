"""The shadow vocabulary other packages share: the dry-run header, the result names, and the
exit codes of the commands that compare the two sides (live parity, replay).

A leaf module (it imports nothing), so the hot path (``routing``), the metrics, the admin API
and the rollout can read these from their one home without reaching into the shadow runner.
"""

from __future__ import annotations

__all__ = [
    "DROPPED",
    "DRY_RUN_HEADER",
    "ERROR",
    "EXIT_ERROR",
    "EXIT_MATCH",
    "EXIT_MISMATCH",
    "MATCH",
    "MISMATCH",
    "SHADOW_RESULTS",
    "exit_code",
]

#: Header the shadow runner adds to a shadowed unsafe request, valued with the per-process key,
#: so the candidate app rolls its transaction back. The proxy strips it from client requests
#: (``routing.requestid``) and redaction hides its value. Lower case, as ASGI carries names.
DRY_RUN_HEADER = b"x-resync-dry-run"

#: What became of one shadowed request: both sides answered alike, differently, the candidate
#: failed, or the shadow copy was dropped (queue full, body too large) before it ran.
MATCH = "match"
MISMATCH = "mismatch"
ERROR = "error"
DROPPED = "dropped"
SHADOW_RESULTS = (MATCH, MISMATCH, ERROR, DROPPED)

#: Exit codes of a comparing command: everything matched, a mismatch, a side failed.
EXIT_MATCH, EXIT_MISMATCH, EXIT_ERROR = 0, 1, 2


def exit_code(*, errors: int, mismatches: int) -> int:
    """Return the comparing command's exit code: a failed side outweighs a mismatch."""
    if errors:
        return EXIT_ERROR
    return EXIT_MISMATCH if mismatches else EXIT_MATCH
