"""NPS, CSAT and response rate: the contract's cases, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from clinic_crm import ClinicCRM, NaiveDatetimeError, ValidationError
from clinic_crm.localtime import month_bounds
from clinic_crm.models import Clinic
from clinic_crm.services.surveys.stats import CsatResult, NpsResult, ResponseRate, margin_of_error
from tests.services.surveys.stats_factory import Resp, make_survey, seed

T = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


def _cid(clinic: Clinic) -> int:
    assert clinic.id is not None
    return clinic.id


def test_nps_counts_promoters_passives_detractors_at_the_boundaries(crm: ClinicCRM, clinic: Clinic) -> None:
    c = _cid(clinic)
    seed(crm.engine, [Resp(c, T, nps=v) for v in (0, 6, 7, 8, 9, 10, 10)])
    got = crm.surveys.nps()
    assert isinstance(got, NpsResult)
    assert (got.responses, got.promoters, got.passives, got.detractors) == (7, 3, 2, 2)
    assert got.score == pytest.approx(100 * (3 - 2) / 7)
    p, d = 3 / 7, 2 / 7
    assert got.margin_of_error == pytest.approx(1.96 * 100 * math.sqrt((p + d - (p - d) ** 2) / 7))


def test_zero_is_a_detractor_and_an_empty_result_has_no_score(crm: ClinicCRM, clinic: Clinic) -> None:
    assert crm.surveys.nps() == NpsResult(None, 0, 0, 0, 0, None)
    assert crm.surveys.csat() == CsatResult(None, 0, 0)
    assert crm.surveys.response_rate() == ResponseRate(0, 0, None)
    assert crm.surveys.nps(by="month") == {}
    seed(crm.engine, [Resp(_cid(clinic), T, nps=0)])
    assert crm.surveys.nps() == NpsResult(-100.0, 1, 0, 0, 1, 0.0)


def test_responses_without_an_nps_answer_do_not_count(crm: ClinicCRM, clinic: Clinic) -> None:
    c = _cid(clinic)
    seed(crm.engine, [Resp(c, T, rating=5), Resp(c, T, nps=10), Resp(c, T, comment="fine")])
    got = crm.surveys.nps()
    assert isinstance(got, NpsResult) and got.responses == 1 and got.score == 100.0


def test_two_nps_questions_count_the_first_answered_by_key_order(crm: ClinicCRM, clinic: Clinic) -> None:
    c = _cid(clinic)
    # keys "recommend" < "recommend_doctor": the first decides; the second only when the first is unanswered
    seed(crm.engine, [Resp(c, T, nps=10, nps2=0), Resp(c, T, nps2=3), Resp(c, T, nps=8, nps2=10)])
    got = crm.surveys.nps()
    assert isinstance(got, NpsResult)
    assert (got.responses, got.promoters, got.passives, got.detractors) == (3, 1, 1, 1)


def test_since_until_is_half_open_and_must_be_aware(crm: ClinicCRM, clinic: Clinic) -> None:
    c = _cid(clinic)
    seed(
        crm.engine,
        [Resp(c, T - timedelta(microseconds=1), nps=0), Resp(c, T, nps=10), Resp(c, T + timedelta(hours=1), nps=9)],
    )
    got = crm.surveys.nps(since=T, until=T + timedelta(hours=1))
    assert isinstance(got, NpsResult) and (got.responses, got.promoters) == (1, 1)
    with pytest.raises(NaiveDatetimeError):
        crm.surveys.nps(since=datetime(2026, 3, 1))
    with pytest.raises(NaiveDatetimeError):
        crm.surveys.csat(until=datetime(2026, 3, 1))
    with pytest.raises(NaiveDatetimeError):
        crm.surveys.response_rate(until=datetime(2026, 3, 1))
    with pytest.raises(ValidationError) as err:
        crm.surveys.nps(since=T, until=T - timedelta(seconds=1))
    assert err.value.field == "until"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"by": "week"}, "by"),
        ({"by": "channel"}, "by"),  # channel is for response_rate only
        ({"min_responses": 0}, "min_responses"),
        ({"min_responses": True}, "min_responses"),
        ({"clinic_id": "1"}, "clinic_id"),
        ({"survey_id": 1.5}, "survey_id"),
    ],
)
def test_bad_arguments_raise_validation_error_naming_the_field(
    crm: ClinicCRM, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as err:
        crm.surveys.nps(**kwargs)
    assert err.value.field == field


def test_month_is_the_clinics_local_month(crm: ClinicCRM, clinic: Clinic) -> None:
    taipei = _cid(clinic)
    london = _cid(crm.clinics.create("London", timezone="Europe/London", locale="en_GB", region="GB"))
    seed(
        crm.engine,
        [
            Resp(taipei, datetime(2026, 2, 28, 15, 59, tzinfo=UTC), nps=10),  # 23:59 local, February
            Resp(taipei, datetime(2026, 2, 28, 16, 0, tzinfo=UTC), nps=0),  # 00:00 local, March
            Resp(london, datetime(2026, 3, 31, 22, 59, tzinfo=UTC), nps=7),  # 23:59 BST, March
            Resp(london, datetime(2026, 3, 31, 23, 0, tzinfo=UTC), nps=9),  # 00:00 BST, April
        ],
    )
    got = crm.surveys.nps(by="month")
    assert isinstance(got, dict)
    assert {k: (r.promoters, r.passives, r.detractors) for k, r in got.items()} == {
        "2026-02": (1, 0, 0),
        "2026-03": (0, 1, 1),
        "2026-04": (1, 0, 0),
    }
    only_london = crm.surveys.nps(by="month", clinic_id=london)
    assert isinstance(only_london, dict) and list(only_london) == ["2026-03", "2026-04"]


def test_month_bounds_follow_daylight_saving_time() -> None:
    months = month_bounds("Europe/London", datetime(2026, 2, 10, tzinfo=UTC), datetime(2026, 4, 2, tzinfo=UTC))
    assert [m[0] for m in months] == ["2026-02", "2026-03", "2026-04"]
    assert months[1][1] == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)  # GMT
    assert months[2][1] == datetime(2026, 3, 31, 23, 0, tzinfo=UTC)  # BST
    assert all(a[2] == b[1] for a, b in zip(months, months[1:], strict=False))


def test_groups_by_practitioner_kind_and_clinic(crm: ClinicCRM, clinic: Clinic) -> None:
    c = _cid(clinic)
    other = _cid(crm.clinics.create("Other", timezone="Asia/Taipei", locale="zh_TW", region="TW"))
    seed(
        crm.engine,
        [
            Resp(c, T, nps=10, practitioner="Dr Lin", kind="checkup"),
            Resp(c, T, nps=2, practitioner=None, kind="checkup"),
            Resp(other, T, nps=9, practitioner="Dr Wu", kind="vaccine"),
        ],
    )
    by_p = crm.surveys.nps(by="practitioner")
    assert isinstance(by_p, dict) and list(by_p) == ["Dr Lin", "Dr Wu", None]
    assert by_p[None].score == -100.0
    by_k = crm.surveys.nps(by="visit_kind")
    assert isinstance(by_k, dict) and {k: r.responses for k, r in by_k.items()} == {"checkup": 2, "vaccine": 1}
    by_c = crm.surveys.nps(by="clinic")
    assert isinstance(by_c, dict) and {k: r.score for k, r in by_c.items()} == {c: 0.0, other: 100.0}
    assert crm.surveys.nps(by="clinic", clinic_id=other) == {other: NpsResult(100.0, 1, 1, 0, 0, 0.0)}


def test_min_responses_suppresses_the_score_but_keeps_the_counts(crm: ClinicCRM, clinic: Clinic) -> None:
    c = _cid(clinic)
    seed(
        crm.engine,
        [Resp(c, T, nps=10, rating=5, practitioner="Dr Lin") for _ in range(5)]
        + [Resp(c, T, nps=0, rating=1, practitioner="Dr Wu") for _ in range(4)],
    )
    got = crm.surveys.nps(by="practitioner", min_responses=5)
    assert isinstance(got, dict)
    assert got["Dr Lin"] == NpsResult(100.0, 5, 5, 0, 0, 0.0)
    assert got["Dr Wu"] == NpsResult(None, 4, 0, 0, 4, None)
    csat = crm.surveys.csat(by="practitioner", min_responses=5)
    assert isinstance(csat, dict) and csat["Dr Wu"] == CsatResult(None, 4, 0) and csat["Dr Lin"].score == 100.0
    overall = crm.surveys.nps(min_responses=10)
    assert isinstance(overall, NpsResult) and overall.score is None and overall.responses == 9
    reported = crm.surveys.nps(by="practitioner")  # None (the default) reports every group
    assert isinstance(reported, dict) and reported["Dr Wu"].score == -100.0


def test_csat_is_the_share_of_ratings_4_or_5_over_rating_answers(crm: ClinicCRM, clinic: Clinic) -> None:
    c = _cid(clinic)
    seed(
        crm.engine,
        [Resp(c, T, rating=5, rating2=3), Resp(c, T, rating=4), Resp(c, T, rating=1, nps=10), Resp(c, T, nps=9)],
    )
    assert crm.surveys.csat() == CsatResult(50.0, 4, 2)


def test_response_rate_counts_invitations_by_the_time_they_were_sent(crm: ClinicCRM, clinic: Clinic) -> None:
    c = _cid(clinic)
    march = datetime(2026, 2, 28, 16, 0, tzinfo=UTC)  # 00:00 in Taipei
    seed(
        crm.engine,
        [
            Resp(c, march + timedelta(hours=2), nps=10, sent_before=timedelta(hours=3), channel="sms"),  # sent in Feb
            Resp(c, march + timedelta(days=2), nps=10, channel="email"),
            Resp(c, march + timedelta(days=3), answered=False, channel="sms"),
            Resp(c, march + timedelta(days=4), answered=False, channel=None),
        ],
    )
    assert crm.surveys.response_rate() == ResponseRate(4, 2, 0.5)
    assert crm.surveys.response_rate(by="month") == {
        "2026-02": ResponseRate(1, 1, 1.0),
        "2026-03": ResponseRate(3, 1, pytest.approx(1 / 3)),
    }
    assert crm.surveys.response_rate(by="channel") == {
        "email": ResponseRate(1, 1, 1.0),
        "sms": ResponseRate(2, 1, 0.5),
        None: ResponseRate(1, 0, 0.0),
    }
    # sent in [march, …): the February invitation is out even though its answer came in March
    assert crm.surveys.response_rate(since=march) == ResponseRate(3, 1, pytest.approx(1 / 3))
    assert crm.surveys.response_rate(min_responses=5) == ResponseRate(4, 2, None)


def test_survey_filter(crm: ClinicCRM, clinic: Clinic) -> None:
    c = _cid(clinic)
    seed(crm.engine, [Resp(c, T, nps=10, rating=5)])
    other = make_survey(crm.engine, c, name="Second")
    seed(crm.engine, [Resp(c, T, nps=7, rating=1, survey=other)])
    got = crm.surveys.nps(survey_id=other)
    assert isinstance(got, NpsResult) and (got.responses, got.passives) == (1, 1)
    assert crm.surveys.csat(survey_id=other) == CsatResult(0.0, 1, 0)
    assert crm.surveys.response_rate(survey_id=other) == ResponseRate(1, 1, 1.0)


def test_margin_of_error_shrinks_as_responses_grow_for_fixed_shares(crm: ClinicCRM, clinic: Clinic) -> None:
    c = _cid(clinic)
    batch = [Resp(c, T, nps=v) for v in (10, 9, 8, 3)]
    seed(crm.engine, batch)
    small = crm.surveys.nps()
    seed(crm.engine, batch * 3)
    large = crm.surveys.nps()
    assert isinstance(small, NpsResult) and isinstance(large, NpsResult)
    assert small.score == large.score
    assert small.margin_of_error is not None and large.margin_of_error is not None
    assert large.margin_of_error == pytest.approx(small.margin_of_error / 2)  # sqrt(4)


def test_margin_of_error_formula() -> None:
    assert margin_of_error(0, 0, 0) is None
    assert margin_of_error(10, 0, 10) == 0.0
    assert margin_of_error(50, 50, 100) == pytest.approx(1.96 * 100 * math.sqrt(1 / 100))


def test_one_aggregate_query_per_call(crm: ClinicCRM, clinic: Clinic) -> None:
    seed(crm.engine, [Resp(_cid(clinic), T, nps=10, rating=5)])
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(crm.engine, "before_cursor_execute", record)
    try:
        for by in (None, "practitioner", "visit_kind", "clinic"):
            statements.clear()
            crm.surveys.nps(by=by)
            crm.surveys.csat(by=by)
            crm.surveys.response_rate(by=by)
            assert len(statements) == 3, by
        statements.clear()
        crm.surveys.nps(by="month")
        # the month boundaries need each clinic's zone and data range (index seeks), then the aggregate
        assert len(statements) == 2
    finally:
        event.remove(crm.engine, "before_cursor_execute", record)


def test_statistics_inside_a_transaction_see_its_rows(crm: ClinicCRM, clinic: Clinic) -> None:
    seed(crm.engine, [Resp(_cid(clinic), T, nps=10)])
    with crm.transaction() as tx:
        got = tx.surveys.nps(by="clinic")
        assert isinstance(got, dict) and got[_cid(clinic)].responses == 1
