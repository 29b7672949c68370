"""Pure reputation rules: the Poisson spike rule (property + 2-year replay), sentiment, the reply guard."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinic_crm.services.reputation.guard import NameIndex, contact_reason, squeeze
from clinic_crm.services.reputation.sentiment import TermMatcher, fold, sentiment_of
from clinic_crm.services.reputation.spikes import MIN_RATE, poisson_sf, spike_check
from clinic_crm.services.reputation.terms import DEFAULT_NEGATIVE_TERMS


def direct_sf(k: int, lam: float) -> float:
    """``P(X ≥ k)`` as the plain sum of the pmf from ``k`` far into the tail (pmf by recurrence from ``e^−λ``)."""
    term, terms = math.exp(-lam), []
    for i in range(k + 400):
        if i:
            term *= lam / i
        if i >= k:
            terms.append(term)
    return math.fsum(terms)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 120), st.floats(0.01, 60.0))
def test_poisson_sf_matches_the_sum_of_the_pmf(k: int, lam: float) -> None:
    expected = direct_sf(k, lam)
    if expected < 1e-290:
        assert poisson_sf(k, lam) < 1e-280
    else:
        assert poisson_sf(k, lam) == pytest.approx(expected, rel=1e-9, abs=1e-15)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 60), st.integers(0, 600))
def test_spike_decision_matches_the_rule(k: int, baseline: int) -> None:
    lam = max(baseline / 28, MIN_RATE)
    p = direct_sf(k, lam)
    check = spike_check(k, baseline)
    assert check.rate == lam
    if abs(p - 0.001) > 1e-9:
        assert check.spike == (k >= 3 and p < 0.001)


def test_known_values() -> None:
    assert poisson_sf(0, 2.0) == 1.0
    assert poisson_sf(1, 0.0) == 0.0
    assert poisson_sf(5, 0.5) == pytest.approx(1.7212e-4, rel=1e-3)
    far = poisson_sf(40, 1.0)  # 1 − cdf would give 0 here
    assert far > 0 and far == pytest.approx(direct_sf(40, 1.0), rel=1e-12)
    assert not spike_check(2, 0).spike  # P is tiny but k < 3
    assert not spike_check(4, 0).spike and spike_check(5, 0).spike
    with pytest.raises(ValueError):
        poisson_sf(3, -1.0)


def _poisson(rnd: random.Random, lam: float) -> int:
    """A Poisson(λ) draw (Knuth's product of uniforms; λ here is at most 10)."""
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rnd.random()
        if p <= limit:
            return k
        k += 1


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_replay_two_years_of_daily_checks(rate: float, seed: int) -> None:
    """At most one false alarm per clinic per quarter; a planted burst is caught on its own day."""
    rnd = random.Random(seed * 1000 + int(rate * 100))
    days = 28 + 730
    counts = [_poisson(rnd, rate) for _ in range(days)]
    burst_day = 28 + rnd.randrange(100, 630)
    burst = math.ceil(6 * math.sqrt(max(rate, MIN_RATE)) + 4)
    counts[burst_day] += burst
    alarms = [d for d in range(28, days) if spike_check(counts[d], sum(counts[d - 28 : d])).spike]
    assert burst_day in alarms
    false = [d for d in alarms if d != burst_day]
    per_quarter: dict[int, int] = {}
    for d in false:
        per_quarter[(d - 28) // 91] = per_quarter.get((d - 28) // 91, 0) + 1
    assert max(per_quarter.values(), default=0) <= 1, (rate, seed, false)


def test_sentiment_rule() -> None:
    negative = TermMatcher(DEFAULT_NEGATIVE_TERMS)
    assert [sentiment_of(r, "", negative) for r in (1, 2, 3, 4, 5)] == ["negative"] * 2 + ["neutral"] + ["positive"] * 2
    assert sentiment_of(5, fold("terrible"), negative) == "positive"  # the rating decides when there is one
    assert sentiment_of(None, fold("ＡＷＦＵＬ wait"), negative) == "negative"
    assert sentiment_of(None, fold("很棒"), negative) == "neutral"
    assert sentiment_of(None, fold("anything"), TermMatcher([])) == "neutral"
    assert TermMatcher(["Dr LIN", "lin"]).first(fold("dr lin")) == "Dr LIN"  # longest term first


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("call 0912-345-678", "a phone number"),
        ("+1 (415) 555-0100", "a phone number"),
        ("a@b.co", "an e-mail address"),
        ("on 2026-03-02 at 9", None),
        ("room 123456", None),
        ("NT$12,000", None),
    ],
)
def test_contact_reason(text: str, reason: str | None) -> None:
    assert contact_reason(text, "TW") == reason


def test_name_index() -> None:
    index = NameIndex([("陳", "大文"), ("García", "José"), ("Li", "Na")])
    assert index.size == 3
    for text in ("陳大文您好", "大文陳", "josé garcía!", "GARCÍA JOSÉ", "GarcíaJosé", "(Li Na)"):
        assert index.found_in(squeeze(text)), text
    for text in ("陳先生", "Vitali Nash", "Li Nan", "xLi Na"):
        assert not index.found_in(squeeze(text)), text
