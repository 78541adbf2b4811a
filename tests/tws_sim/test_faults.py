"""The fault injector: plans follow the rates, updates are atomic, reset restores the start."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from tws_sim.errors import InvalidSettings
from tws_sim.faults import Fault, FaultInjector
from tws_sim.settings import FaultSettings


def test_no_settings_means_no_delay_and_no_fault() -> None:
    injector = FaultInjector(FaultSettings(), seed=1)
    plans = {injector.draw() for _ in range(100)}
    assert {(plan.delay, plan.fault) for plan in plans} == {(0.0, Fault.NONE)}


@pytest.mark.parametrize(
    ("changes", "fault"),
    [
        pytest.param({"error_rate": 1}, Fault.ERROR, id="error"),
        pytest.param({"timeout_rate": 1}, Fault.TIMEOUT, id="timeout"),
        pytest.param({"reset_rate": 1}, Fault.RESET, id="reset"),
        pytest.param({"error_rate": 1, "reset_rate": 1}, Fault.ERROR, id="error-checked-first"),
        pytest.param(
            {"timeout_rate": 1, "reset_rate": 1}, Fault.TIMEOUT, id="timeout-before-reset"
        ),
    ],
)
def test_a_rate_of_one_always_picks_its_fault(changes: dict[str, float], fault: Fault) -> None:
    injector = FaultInjector(FaultSettings(), seed=1)
    injector.update(changes)
    assert {injector.draw().fault for _ in range(50)} == {fault}


def test_a_partial_rate_hits_about_that_share_of_requests() -> None:
    injector = FaultInjector(FaultSettings(error_rate=0.25), seed=3)
    counts = Counter(injector.draw().fault for _ in range(4000))
    assert 800 <= counts[Fault.ERROR] <= 1200
    assert counts[Fault.ERROR] + counts[Fault.NONE] == 4000


def test_latency_with_jitter_stays_within_its_band_and_never_goes_negative() -> None:
    injector = FaultInjector(FaultSettings(latency_ms=100, jitter_ms=40), seed=5)
    delays = [injector.draw().delay for _ in range(1000)]
    assert min(delays) >= 0.06
    assert max(delays) <= 0.14
    assert len(set(delays)) > 100
    injector.update({"latency_ms": 10, "jitter_ms": 50})
    assert min(injector.draw().delay for _ in range(1000)) == 0.0


def test_timeout_plans_carry_the_configured_seconds() -> None:
    injector = FaultInjector(FaultSettings(timeout_rate=1, timeout_seconds=0.25))
    assert injector.draw().timeout_seconds == 0.25


def test_a_rejected_update_changes_nothing() -> None:
    injector = FaultInjector(FaultSettings(latency_ms=5))
    with pytest.raises(InvalidSettings):
        injector.update({"error_rate": 0.5, "reset_rate": 9})
    assert injector.settings == FaultSettings(latency_ms=5)


def test_reset_restores_the_settings_it_started_with() -> None:
    injector = FaultInjector(FaultSettings(latency_ms=5))
    injector.update({"latency_ms": 500, "error_rate": 1})
    assert injector.reset() == FaultSettings(latency_ms=5)
    assert injector.settings == FaultSettings(latency_ms=5)


def test_concurrent_updates_from_threads_are_never_lost() -> None:
    injector = FaultInjector(FaultSettings())
    keys = ["latency_ms", "jitter_ms", "timeout_seconds"]
    barrier = threading.Barrier(len(keys))

    def hammer(key: str) -> None:
        barrier.wait()
        for value in range(1, 2001):
            injector.update({key: value})

    threads = [threading.Thread(target=hammer, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Without the lock, a read-modify-write could drop another thread's last update.
    assert [getattr(injector.settings, key) for key in keys] == [2000.0, 2000.0, 2000.0]
