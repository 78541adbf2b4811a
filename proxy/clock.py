"""Tell the time the way the proxy writes it: UTC, whole seconds, ``2026-12-03T14:22:08Z``.

The one home of the timestamp format: the flag stores stamp changes with :func:`utc_now`, and the
admin API, the CLI and the mismatch store write instants with :func:`format_utc`; the shadow
comparator reads the apps' timestamps (the same format) with :func:`parse_utc`.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["UTC_FORMAT", "format_utc", "parse_utc", "utc_now"]

#: ``strftime``/``strptime`` format of an instant: UTC, whole seconds, a ``Z``.
UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_now() -> datetime:
    """Return the current UTC time at second precision (how the team stores timestamps)."""
    return datetime.now(UTC).replace(microsecond=0)


def format_utc(moment: datetime) -> str:
    """Write an instant as ``YYYY-MM-DDTHH:MM:SSZ`` (an aware one is converted to UTC first;
    a naive one is taken to be UTC already)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(UTC_FORMAT)


def parse_utc(text: str) -> datetime:
    """Read what :func:`format_utc` writes (raises ``ValueError`` for anything else)."""
    return datetime.strptime(text, UTC_FORMAT).replace(tzinfo=UTC)
