"""The Mann-Whitney U test on histograms agrees with the textbook and with brute force."""

from __future__ import annotations

import random

import pytest

from proxy.rollout.mannwhitney import u_test_bins, u_test_samples


def _pairwise_u(candidate: list[float], base: list[float]) -> float:
    return sum((c > b) + 0.5 * (c == b) for c in candidate for b in base)


def test_u_and_p_match_scipys_documented_example() -> None:
    # scipy.stats.mannwhitneyu(males, females, method="asymptotic"): U=17, two-sided p=0.1113
    males, females = [19, 22, 16, 29, 24], [20, 11, 17, 12]
    result = u_test_samples(males, females)
    assert result.u == 17
    assert 2 * result.p_greater == pytest.approx(0.11134688653314041, rel=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_binned_u_equals_the_pairwise_count_with_ties(seed: int) -> None:
    rng = random.Random(seed)
    candidate = [rng.randint(0, 12) for _ in range(rng.randint(5, 60))]
    base = [rng.randint(0, 10) for _ in range(rng.randint(5, 60))]
    assert u_test_samples(candidate, base).u == _pairwise_u(candidate, base)


def test_a_clearly_slower_side_is_significant_and_a_same_one_is_not() -> None:
    rng = random.Random(7)
    base = {i: rng.randint(20, 40) for i in range(10, 20)}
    slower = {i + 4: n for i, n in base.items()}
    assert u_test_bins(slower, base).p_greater < 1e-6
    assert u_test_bins(slower, base).probability_greater > 0.7
    same = u_test_bins(dict(base), base)
    assert same.p_greater > 0.4
    assert same.probability_greater == pytest.approx(0.5)


def test_few_samples_give_no_evidence() -> None:
    assert u_test_bins({5: 1}, {3: 1}).p_greater > 0.1
    assert u_test_bins({}, {3: 10}).p_greater == 1.0
    assert u_test_bins({4: 10}, {4: 10}).p_greater == 1.0  # all tied
