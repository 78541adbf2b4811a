"""Judge one step of a rollout from its window's figures: pass, fail, wait, or not judged.

The gates (thresholds in :class:`~proxy.rollout.plans.Gates`):

- **errors**: the new side's 5xx rate may exceed legacy's, over the same window, by at most
  ``max_error_rate_increase``.
- **p95**: the new side's p95 latency over legacy's, at most ``max_p95_ratio``.
- **latency**: a one-sided Mann-Whitney U test on the two latency histograms; fails when the new
  side is slower with p < ``latency_alpha`` and with probability above ``max_slower_probability``.
- **mismatches** (shadow steps): mismatches plus candidate errors over comparisons, at most
  ``max_mismatch_rate``; noise the comparator learned (``STRANGLER_SHADOW_LEARN_NOISE``) is
  already not a mismatch.
- **drops** (shadow steps): above ``max_drop_rate`` of the shadow work was dropped, so the step
  has not really been compared: it is *not judged* (it neither passes nor fails) until enough
  comparisons run.

Legacy figures come from the step's own window when legacy served at least ``min_samples``
requests in it (canary steps), otherwise from the *reference*: the legacy figures of the last
window that had them (a step on ``new`` has no legacy traffic of its own). A gate fails a step as
soon as its side has ``min_samples`` (no need to wait out a step that is already bad); a step
passes only after its minimum duration and minimum requests (new-side requests, or comparisons in
``shadow``), with every gate that could be computed passing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proxy.modes import Mode
from proxy.rollout.mannwhitney import u_test_bins
from proxy.rollout.measure import SideWindow, Window
from proxy.rollout.plans import Gates, Plan

__all__ = ["FAIL", "PASS", "UNJUDGED", "WAIT", "Verdict", "judge"]

PASS = "pass"  # noqa: S105  # a verdict, not a password
FAIL = "fail"
WAIT = "wait"
UNJUDGED = "unjudged"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the gates say about a step now, why, and the figures that say it."""

    outcome: str
    reasons: tuple[str, ...] = ()
    figures: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for an event's reason."""
        return "; ".join(self.reasons) if self.reasons else self.outcome


def _gate(value: float | None, limit: float, ok: bool | None) -> dict[str, Any]:
    return {"value": None if value is None else round(value, 4), "limit": limit, "ok": ok}


def judge(
    plan: Plan,
    index: int,
    window: Window,
    *,
    elapsed: float,
    reference: SideWindow | None = None,
) -> Verdict:
    """Judge step ``index`` of ``plan`` on ``window``, ``elapsed`` seconds after it began."""
    step = plan.steps[index]
    gates: Gates = plan.gates
    enough = gates.min_samples
    new = window.new
    legacy: SideWindow | None = window.legacy if window.legacy.requests >= enough else None
    legacy_source = "window"
    if legacy is None and reference is not None and reference.requests >= enough:
        legacy, legacy_source = reference, "reference"
    results: dict[str, Any] = {}
    failures: list[str] = []

    if new.requests >= enough:
        base_rate = legacy.error_rate if legacy is not None else 0.0
        increase = new.error_rate - base_rate
        ok = increase <= gates.max_error_rate_increase
        results["errors"] = _gate(increase, gates.max_error_rate_increase, ok)
        if not ok:
            failures.append(
                f"error rate new {new.error_rate:.2%} vs legacy {base_rate:.2%}"
                f" (+{increase:.2%} > +{gates.max_error_rate_increase:.2%})"
            )
        if legacy is not None:
            new_p95, legacy_p95 = new.p95_ms, legacy.p95_ms
            if new_p95 is not None and legacy_p95:
                ratio = new_p95 / legacy_p95
                ok = ratio <= gates.max_p95_ratio
                results["p95_ratio"] = _gate(ratio, gates.max_p95_ratio, ok)
                if not ok:
                    failures.append(
                        f"p95 new {new_p95} ms vs legacy {legacy_p95} ms"
                        f" (x{ratio:.2f} > x{gates.max_p95_ratio})"
                    )
            test = u_test_bins(new.bins, legacy.bins)
            slower = (
                test.p_greater < gates.latency_alpha
                and test.probability_greater > gates.max_slower_probability
            )
            results["latency_u_test"] = {
                "u": test.u,
                "p_greater": round(test.p_greater, 6),
                "probability_slower": round(test.probability_greater, 4),
                "alpha": gates.latency_alpha,
                "limit": gates.max_slower_probability,
                "ok": not slower,
            }
            if slower:
                failures.append(
                    f"new side slower (Mann-Whitney p={test.p_greater:.2g},"
                    f" P(slower)={test.probability_greater:.2f})"
                )

    shadow = window.shadow
    shadowed = step.mode in (Mode.SHADOW, Mode.SHADOW_NEW)
    unjudged = False
    if shadowed:
        if shadow.attempted >= enough:
            dropped = shadow.drop_rate > gates.max_drop_rate
            results["drops"] = _gate(shadow.drop_rate, gates.max_drop_rate, not dropped)
            unjudged = dropped
        if shadow.compared >= enough:
            ok = shadow.mismatch_rate <= gates.max_mismatch_rate
            results["mismatches"] = _gate(shadow.mismatch_rate, gates.max_mismatch_rate, ok)
            if not ok:
                failures.append(
                    f"shadow mismatch rate {shadow.mismatch_rate:.2%}"
                    f" ({shadow.mismatch} mismatches, {shadow.error} errors in"
                    f" {shadow.compared}) > {gates.max_mismatch_rate:.2%}"
                )

    evidence = shadow.compared if step.mode is Mode.SHADOW else new.requests
    needed_requests = plan.requests_of(index)
    needed_seconds = plan.duration_of(index)
    figures = {
        "step": index,
        "label": step.label,
        "elapsed_seconds": round(elapsed, 3),
        "min_duration": needed_seconds,
        "requests": evidence,
        "min_requests": needed_requests,
        "window": window.as_json(),
        "legacy_source": legacy_source if legacy is not None else None,
        "gates": results,
    }
    if failures:
        return Verdict(FAIL, tuple(failures), figures)
    if unjudged:
        return Verdict(
            UNJUDGED,
            (f"{shadow.drop_rate:.0%} of shadow work dropped: step not judged",),
            figures,
        )
    waiting = []
    if elapsed < needed_seconds:
        waiting.append(f"{elapsed:.0f}/{needed_seconds:.0f} s")
    if evidence < needed_requests:
        waiting.append(f"{evidence}/{needed_requests} requests")
    if waiting:
        return Verdict(WAIT, tuple(waiting), figures)
    passed = [
        f"{name} ok" for name, gate in results.items() if isinstance(gate, dict) and gate.get("ok")
    ]
    return Verdict(PASS, tuple(passed) or ("no gate failed",), figures)
