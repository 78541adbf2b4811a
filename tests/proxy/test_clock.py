"""The proxy's one timestamp format (proxy/clock.py)."""

from __future__ import annotations

import calendar
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from proxy.clock import format_epoch_ms, format_utc, parse_utc, utc_now


def test_an_aware_instant_is_written_in_utc_and_read_back() -> None:
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 12, 3, 15, 22, 8, tzinfo=paris)
    assert format_utc(moment) == "2026-12-03T14:22:08Z"
    assert parse_utc(format_utc(moment)) == moment


def test_a_naive_instant_is_taken_as_utc() -> None:
    assert format_utc(datetime(2026, 12, 3, 14, 22, 8, 999_999)) == "2026-12-03T14:22:08Z"


def test_anything_else_is_refused_when_read() -> None:
    with pytest.raises(ValueError):
        parse_utc("2026-12-03 14:22:08")


def test_now_is_utc_at_whole_seconds() -> None:
    now = utc_now()
    assert now.tzinfo is UTC
    assert now.microsecond == 0


def test_epoch_instants_carry_milliseconds_and_each_second_is_its_own() -> None:
    base = calendar.timegm((2026, 12, 3, 14, 22, 8))
    assert format_epoch_ms(base + 0.1234) == "2026-12-03T14:22:08.123Z"
    # The kept second must not leak into the next one, nor back into an earlier one.
    assert format_epoch_ms(base + 1.5) == "2026-12-03T14:22:09.500Z"
    assert format_epoch_ms(base + 0.0) == "2026-12-03T14:22:08.000Z"
    assert format_epoch_ms(base + 86_400.25) == "2026-12-04T14:22:08.250Z"


# Moved from tests/proxy/traffic/test_record_cost.py with the formatter (records._at).
def test_the_time_is_formatted_per_record() -> None:
    now = time.time()
    assert format_epoch_ms(1796230866.25) == "2026-12-02T17:01:06.250Z"
    assert format_epoch_ms(1796230866.999) == "2026-12-02T17:01:06.999Z"
    assert format_epoch_ms(1796230867.0) == "2026-12-02T17:01:07.000Z"
    assert format_epoch_ms(now)[:19] == time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
