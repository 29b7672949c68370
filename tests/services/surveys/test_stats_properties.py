"""Property tests: the SQL statistics equal a pandas computation of their definitions, on both databases."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinic_crm import ClinicCRM
from clinic_crm.models import Clinic
from clinic_crm.services.surveys.stats import NPS_BY, RATE_BY, CsatResult, NpsResult, ResponseRate, margin_of_error
from tests.services.surveys.stats_factory import (
    Resp,
    items_frame,
    reference_csat,
    reference_nps,
    reference_rate,
    seed,
    wipe,
)

START = datetime(2026, 1, 20, tzinfo=UTC)
END = datetime(2026, 5, 10, tzinfo=UTC)
# local month starts of Taipei (UTC+8) and London (GMT/BST): where a wrong zone shows
EDGES = [
    datetime(2026, m, 1, tzinfo=UTC) + off
    for m in (2, 3, 4, 5)
    for off in (timedelta(hours=-8), timedelta(0), timedelta(hours=-1))
]
PROPS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

instants = st.one_of(
    st.datetimes(START.replace(tzinfo=None), END.replace(tzinfo=None), timezones=st.just(UTC)),
    st.tuples(st.sampled_from(EDGES), st.integers(-3, 3)).map(lambda e: e[0] + timedelta(minutes=e[1])),
)
maybe_nps = st.one_of(st.none(), st.integers(0, 10))
maybe_rating = st.one_of(st.none(), st.integers(1, 5))


@st.composite
def responses(draw: st.DrawFn, clinics: tuple[int, int]) -> list[Resp]:
    n = draw(st.integers(0, 25))
    return [
        Resp(
            clinic=draw(st.sampled_from(clinics)),
            at=draw(instants),
            nps=draw(maybe_nps),
            nps2=draw(st.one_of(st.none(), st.none(), st.integers(0, 10))),
            rating=draw(maybe_rating),
            rating2=draw(maybe_rating),
            kind=draw(st.sampled_from(["checkup", "vaccine"])),
            practitioner=draw(st.sampled_from(["Dr Lin", "Dr Wu", None])),
            channel=draw(st.sampled_from(["sms", "email", None])),
            answered=draw(st.booleans()),
            sent_before=timedelta(minutes=draw(st.integers(0, 3000))),
        )
        for _ in range(n)
    ]


def _two_clinics(crm: ClinicCRM, clinic: Clinic) -> tuple[tuple[int, int], dict[int, str]]:
    london = crm.clinics.create("London", timezone="Europe/London", locale="en_GB", region="GB")
    assert clinic.id is not None and london.id is not None
    return (clinic.id, london.id), {clinic.id: "Asia/Taipei", london.id: "Europe/London"}


def _as_dict(result: object) -> dict[object, object]:
    return result if isinstance(result, dict) else {None: result}


@pytest.mark.parametrize("by", [None, *NPS_BY])
def test_statistics_equal_their_pandas_definition(crm: ClinicCRM, clinic: Clinic, by: str | None) -> None:
    clinics, zones = _two_clinics(crm, clinic)

    @PROPS
    @given(
        items=responses(clinics),
        clinic_id=st.sampled_from([None, *clinics]),
        window=st.one_of(st.none(), st.tuples(instants, st.integers(0, 120 * 24))),
        min_responses=st.sampled_from([None, 1, 3, 5]),
    )
    def check(
        items: list[Resp], clinic_id: int | None, window: tuple[datetime, int] | None, min_responses: int | None
    ) -> None:
        wipe(crm.engine)
        seed(crm.engine, items)
        since, until = (None, None) if window is None else (window[0], window[0] + timedelta(hours=window[1]))
        df = items_frame(items, zones)
        filters = dict(clinic_id=clinic_id, since=since, until=until)

        # NPS: the counts match, the score is 100·(P−D)/n, suppressed below min_responses
        got = _as_dict(crm.surveys.nps(by=by, min_responses=min_responses, **filters))
        want = reference_nps(df, by=by, **filters)
        assert {k: (r.promoters, r.passives, r.detractors) for k, r in got.items()} == want  # type: ignore[attr-defined]
        for r in got.values():
            assert isinstance(r, NpsResult)
            n = r.promoters + r.passives + r.detractors
            assert r.responses == n
            if n == 0 or (min_responses is not None and n < min_responses):
                assert r.score is None and r.margin_of_error is None
            else:
                assert r.score == pytest.approx(100 * (r.promoters - r.detractors) / n)
                assert -100 <= r.score <= 100
                p, d = r.promoters / n, r.detractors / n
                assert r.margin_of_error == pytest.approx(1.96 * 100 * math.sqrt(max(0.0, p + d - (p - d) ** 2) / n))

        # CSAT
        got_c = _as_dict(crm.surveys.csat(by=by, min_responses=min_responses, **filters))
        want_c = reference_csat(df, by=by, **filters)
        assert {k: (r.responses, r.satisfied) for k, r in got_c.items()} == want_c  # type: ignore[attr-defined]
        for r in got_c.values():
            assert isinstance(r, CsatResult)
            if r.score is not None:
                assert r.score == pytest.approx(100 * r.satisfied / r.responses) and 0 <= r.score <= 100

        # response rate
        got_r = _as_dict(crm.surveys.response_rate(by=by, min_responses=min_responses, **filters))
        want_r = reference_rate(df, by=by, **filters)
        assert {k: (r.invitations, r.responses) for k, r in got_r.items()} == want_r  # type: ignore[attr-defined]
        for r in got_r.values():
            assert isinstance(r, ResponseRate)
            if r.rate is not None:
                assert 0 <= r.rate <= 1 and r.rate == pytest.approx(r.responses / r.invitations)

        # groups add up to the total
        if by is not None:
            total = crm.surveys.nps(**filters)
            assert isinstance(total, NpsResult)
            assert sum(r.responses for r in got.values()) == total.responses  # type: ignore[attr-defined]

    check()


def test_response_rate_by_channel_equals_pandas(crm: ClinicCRM, clinic: Clinic) -> None:
    clinics, zones = _two_clinics(crm, clinic)
    assert "channel" in RATE_BY

    @PROPS
    @given(items=responses(clinics))
    def check(items: list[Resp]) -> None:
        wipe(crm.engine)
        seed(crm.engine, items)
        got = _as_dict(crm.surveys.response_rate(by="channel"))
        want = reference_rate(items_frame(items, zones), by="channel")
        assert {k: (r.invitations, r.responses) for k, r in got.items()} == want  # type: ignore[attr-defined]

    check()


@given(
    promoters=st.integers(0, 1000),
    passives=st.integers(0, 1000),
    detractors=st.integers(0, 1000),
    factor=st.integers(2, 50),
)
def test_margin_of_error_shrinks_as_responses_grow(promoters: int, passives: int, detractors: int, factor: int) -> None:
    n = promoters + passives + detractors
    small = margin_of_error(promoters, detractors, n)
    large = margin_of_error(promoters * factor, detractors * factor, n * factor)
    if n == 0:
        assert small is None and large is None
        return
    assert small is not None and large is not None
    assert large <= small
    assert large == pytest.approx(small / math.sqrt(factor), abs=1e-9)
    if promoters + detractors > 0 and promoters != n and detractors != n:  # variance > 0
        assert large < small
