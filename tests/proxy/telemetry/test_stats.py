"""The rolling window behind ``/_strangler/stats``."""

from __future__ import annotations

from proxy.telemetry.stats import RollingStats


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_counts_rates_errors_and_p95_per_route_and_side() -> None:
    clock = Clock()
    stats = RollingStats(60, clock=clock)
    clock.now += 60
    for index in range(100):
        stats.record("GET /a", "new", 500 if index < 5 else 200, float(index + 1))
    stats.record("GET /a", "legacy", 200, 3.0)
    snapshot = stats.snapshot()
    new = snapshot["GET /a"]["new"]
    assert new["requests"] == 100
    assert new["rps"] == round(100 / 60, 3)
    assert new["error_rate"] == 0.05
    assert 95.0 <= new["p95_ms"] <= 95.0 * 1.2
    assert snapshot["GET /a"]["legacy"]["requests"] == 1


def test_requests_older_than_the_window_drop_out() -> None:
    clock = Clock()
    stats = RollingStats(10, clock=clock)
    stats.record("GET /a", "new", 200, 1.0)
    clock.now += 5
    stats.record("GET /a", "new", 200, 1.0)
    assert stats.snapshot()["GET /a"]["new"]["requests"] == 2
    clock.now += 6
    assert stats.snapshot()["GET /a"]["new"]["requests"] == 1
    clock.now += 20
    assert stats.snapshot() == {}


def test_a_slot_reused_after_a_full_turn_starts_from_zero() -> None:
    clock = Clock()
    stats = RollingStats(10, clock=clock)
    for _ in range(3):
        stats.record("GET /a", "new", 200, 1.0)
    clock.now += 10  # same slot index, ten seconds later
    stats.record("GET /a", "new", 200, 1.0)
    assert stats.snapshot()["GET /a"]["new"]["requests"] == 1
