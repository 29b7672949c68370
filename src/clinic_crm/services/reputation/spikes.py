"""The negative-spike rule, pure: a Poisson tail test on the last 24 hours against a 28-day baseline.

With ``k`` negative mentions posted in ``[now − 24 h, now)`` and ``λ`` the daily mean of negative mentions over
the 28 days before that (at least :data:`MIN_RATE`), a spike is ``k ≥ 3`` and ``P(Poisson(λ) ≥ k) < 0.001``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

__all__ = [
    "WINDOW",
    "BASELINE_DAYS",
    "MIN_RATE",
    "MIN_COUNT",
    "THRESHOLD",
    "SpikeCheck",
    "poisson_sf",
    "baseline_rate",
    "spike_check",
]

WINDOW = timedelta(hours=24)
BASELINE_DAYS = 28
MIN_RATE = 0.5
MIN_COUNT = 3
THRESHOLD = 0.001


@dataclass(frozen=True, slots=True)
class SpikeCheck:
    """One evaluation of the rule: the count, the baseline rate used, the tail probability, the verdict."""

    count: int
    rate: float
    p_value: float
    spike: bool


def _log_pmf(i: int, lam: float) -> float:
    return -lam + i * math.log(lam) - math.lgamma(i + 1)


def poisson_sf(k: int, lam: float) -> float:
    """``P(X ≥ k)`` for ``X ~ Poisson(lam)``, accurate in the far tail (no ``1 − cdf`` cancellation there).

    Below the mean the complement ``1 − Σ_{i<k} pmf(i)`` is large and exact enough; at or above it the upper
    tail ``Σ_{i≥k} pmf(i)`` is summed directly from ``pmf(k)`` (terms shrink geometrically), in log space so
    large ``k`` or ``lam`` do not overflow.

    Raises:
        ValueError: ``lam`` is negative or not finite.
    """
    if not (lam >= 0.0 and math.isfinite(lam)):
        raise ValueError("lam must be a finite, non-negative rate")
    if k <= 0:
        return 1.0
    if lam == 0.0:
        return 0.0
    if k <= lam:
        below = math.fsum(math.exp(_log_pmf(i, lam)) for i in range(k))
        return min(1.0, max(0.0, 1.0 - below))
    term = math.exp(_log_pmf(k, lam))
    if term == 0.0:
        return 0.0
    terms = [term]
    i = k
    while True:
        i += 1
        term *= lam / i
        terms.append(term)
        if term <= terms[0] * 1e-18:  # (<=: the bound underflows to 0 far in the tail)
            break
    return min(1.0, math.fsum(terms))


def baseline_rate(count: int, days: int = BASELINE_DAYS) -> float:
    """The daily mean of ``count`` events over ``days`` days, floored at :data:`MIN_RATE`."""
    return max(count / days, MIN_RATE)


def spike_check(count: int, baseline_count: int) -> SpikeCheck:
    """Apply the rule to ``count`` negatives in the last 24 h and ``baseline_count`` in the 28 days before."""
    rate = baseline_rate(baseline_count)
    p_value = poisson_sf(count, rate)
    return SpikeCheck(count, rate, p_value, count >= MIN_COUNT and p_value < THRESHOLD)
