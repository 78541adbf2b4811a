"""Compare two latency distributions with the Mann-Whitney U test, on histograms.

The workers share latency as histograms (counts per log-spaced bin, see
:mod:`proxy.telemetry.stats`), not as raw samples, so the test works on bin counts: values in
one bin are ties. With ties handled by mid-ranks and the tie-corrected variance, U computed from
bins is exactly U computed from the samples rounded to their bins. The p-value uses the normal
approximation with a continuity correction (what Kayenta and
``scipy.stats.mannwhitneyu(method="asymptotic")`` do), which is accurate for the sample sizes a
step needs before it is judged (tens of requests per side).

Why a rank test instead of one p95 ratio: a p95 from a handful of requests is noise, and a rank
test says how sure we can be, given how many requests each side answered, that the new side is
slower at all; the ratio says by how much. The gates use both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["UTest", "u_test_bins", "u_test_samples"]


@dataclass(frozen=True, slots=True)
class UTest:
    """The outcome of a one-sided test "is ``candidate`` stochastically greater than ``base``".

    ``u`` counts pairs (candidate, base) where the candidate is larger, ties as half;
    ``p_greater`` is the one-sided p-value; ``probability_greater`` is ``u / (n1 * n2)``, the
    chance that a random candidate value exceeds a random base value (0.5: no difference).
    """

    u: float
    n_candidate: int
    n_base: int
    z: float
    p_greater: float

    @property
    def probability_greater(self) -> float:
        pairs = self.n_candidate * self.n_base
        return self.u / pairs if pairs else 0.5


def _normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def u_test_bins(candidate: Mapping[int, int], base: Mapping[int, int]) -> UTest:
    """Test on two histograms over the same ordered bins (bin index -> count)."""
    n1 = sum(candidate.values())
    n2 = sum(base.values())
    if n1 == 0 or n2 == 0:
        return UTest(0.0, n1, n2, 0.0, 1.0)
    u = 0.0
    base_below = 0
    tie_term = 0.0
    for index in sorted(set(candidate) | set(base)):
        c = candidate.get(index, 0)
        b = base.get(index, 0)
        u += c * (base_below + 0.5 * b)
        base_below += b
        t = c + b
        tie_term += t * t * t - t
    n = n1 + n2
    mean = n1 * n2 / 2.0
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:  # every value in one bin: no evidence either way
        return UTest(u, n1, n2, 0.0, 1.0 if u <= mean else 0.0)
    z = (u - mean - 0.5) / math.sqrt(variance)
    return UTest(u, n1, n2, z, min(1.0, max(0.0, _normal_sf(z))))


def _histogram(values: Iterable[float], order: Sequence[float]) -> dict[int, int]:
    index = {value: position for position, value in enumerate(order)}
    counts: dict[int, int] = {}
    for value in values:
        position = index[value]
        counts[position] = counts.get(position, 0) + 1
    return counts


def u_test_samples(candidate: Sequence[float], base: Sequence[float]) -> UTest:
    """Test on raw samples (each distinct value its own bin)."""
    order = sorted(set(candidate) | set(base))
    return u_test_bins(_histogram(candidate, order), _histogram(base, order))
