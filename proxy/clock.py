"""Tell the time the way the proxy writes it: UTC, whole seconds, ``2026-12-03T14:22:08Z``.

The one home of the timestamp format: the flag stores stamp changes with :func:`utc_now`, and the
admin API, the CLI and the mismatch store write instants with :func:`format_utc`; the shadow
comparator reads the apps' timestamps (the same format) with :func:`parse_utc`. Captured
exchanges, many a second, are stamped to the millisecond with :func:`format_epoch_ms`
(``2026-12-03T14:22:08.123Z``); a database state's datetimes are written with :func:`format_utc`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["UTC_FORMAT", "format_epoch_ms", "format_utc", "parse_utc", "utc_now"]

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


_second: tuple[int, str] = (-1, "")  # the last whole second formatted (callers come in order)


def format_epoch_ms(seconds: float) -> str:
    """Write a ``time.time()`` instant as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, milliseconds).

    The whole second is formatted once and kept: the capture writer stamps thousands of records
    a second, and ``strftime`` per record was a measurable share of its cost.
    """
    global _second
    whole = int(seconds)
    known, text = _second
    if known != whole:
        text = time.strftime(UTC_FORMAT[:-1], time.gmtime(whole))
        _second = (whole, text)
    return f"{text}.{int(seconds % 1 * 1000):03d}Z"
