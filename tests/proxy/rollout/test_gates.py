"""A step passes, waits, fails early or is not judged, from its window's figures."""

from __future__ import annotations

from proxy.rollout.gates import FAIL, PASS, UNJUDGED, WAIT, judge
from proxy.rollout.measure import ShadowWindow, SideWindow, Window, window_between
from proxy.rollout.plans import plan_from_mapping

PLAN = plan_from_mapping(
    "GET /api/items",
    {"steps": "shadow 10s 50req -> canary 10% 10s 50req -> new 10s 50req -> new"},
)


def side(requests: int, errors: int = 0, bin_: int = 30) -> SideWindow:
    return SideWindow(requests, errors, {bin_: requests})


def test_a_healthy_canary_waits_out_its_duration_then_passes() -> None:
    window = Window(legacy=side(500), new=side(60))
    assert judge(PLAN, 1, window, elapsed=3).outcome == WAIT
    verdict = judge(PLAN, 1, window, elapsed=11)
    assert verdict.outcome == PASS
    assert verdict.figures["gates"]["errors"]["ok"] is True
    assert verdict.figures["gates"]["p95_ratio"]["value"] == 1.0


def test_too_few_requests_keep_a_step_waiting() -> None:
    verdict = judge(PLAN, 1, Window(legacy=side(500), new=side(30)), elapsed=60)
    assert verdict.outcome == WAIT
    assert "30/50 requests" in verdict.summary()


def test_new_side_errors_fail_the_step_before_its_duration() -> None:
    verdict = judge(PLAN, 1, Window(legacy=side(500, 1), new=side(25, 10)), elapsed=1)
    assert verdict.outcome == FAIL
    assert "error rate new 40.00%" in verdict.summary()


def test_a_slower_new_side_fails_on_ratio_and_rank_test() -> None:
    verdict = judge(PLAN, 1, Window(legacy=side(500, bin_=30), new=side(60, bin_=36)), elapsed=1)
    assert verdict.outcome == FAIL
    gates = verdict.figures["gates"]
    assert gates["p95_ratio"]["ok"] is False
    assert gates["latency_u_test"]["ok"] is False


def test_steps_without_legacy_traffic_compare_with_the_reference() -> None:
    reference = side(400, bin_=30)
    slow = Window(new=side(100, bin_=40))
    verdict = judge(PLAN, 2, slow, elapsed=20, reference=reference)
    assert verdict.outcome == FAIL
    assert verdict.figures["legacy_source"] == "reference"
    assert judge(PLAN, 2, Window(new=side(100)), elapsed=20, reference=reference).outcome == PASS


def test_shadow_mismatches_fail_and_mostly_dropped_shadow_is_not_judged() -> None:
    mismatching = Window(legacy=side(100), shadow=ShadowWindow(match=40, mismatch=10))
    assert judge(PLAN, 0, mismatching, elapsed=1).outcome == FAIL
    dropped = Window(legacy=side(100), shadow=ShadowWindow(match=30, dropped=70))
    verdict = judge(PLAN, 0, dropped, elapsed=60)
    assert verdict.outcome == UNJUDGED
    assert "70% of shadow work dropped" in verdict.summary()
    clean = Window(legacy=side(100), shadow=ShadowWindow(match=60, dropped=5))
    assert judge(PLAN, 0, clean, elapsed=11).outcome == PASS


def test_a_window_sums_workers_since_their_baselines() -> None:
    baseline = {"w1": {"new": {"n": 10, "e": 1, "b": {"30": 10}}, "shadow": {"match": 5}}}
    current = {
        "w1": {"new": {"n": 25, "e": 3, "b": {"30": 20, "31": 5}}, "shadow": {"match": 9}},
        "w2": {"new": {"n": 4, "e": 0, "b": {"30": 4}}},  # started after the step
    }
    window = window_between("GET /api/items", baseline, current)
    assert (window.new.requests, window.new.errors) == (19, 2)
    assert window.new.bins == {30: 14, 31: 5}
    assert window.shadow.match == 4
    assert window.workers == 2
