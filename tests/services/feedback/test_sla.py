"""``crm.feedback.sla``: counts, groups by month (clinic's zone), clinic and kind, filters, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clinic_crm import ClinicCRM, NaiveDatetimeError, SlaResult, ValidationError
from tests.conftest import T0
from tests.services.feedback.conftest import TPE, CaseFactory

H = timedelta(hours=1)


def test_empty(crm: ClinicCRM, cid: int) -> None:
    assert crm.feedback.sla(now=T0) == SlaResult(0, 0, 0, 0)
    for by in ("month", "clinic", "kind"):
        assert crm.feedback.sla(by=by, now=T0) == {}


def test_counts(crm: ClinicCRM, cid: int, make_case: CaseFactory) -> None:
    crm.feedback.set_policy(
        cid, kind="complaint", acknowledge_within=timedelta(hours=1), resolve_within=timedelta(hours=4), at=T0
    )
    a = make_case()  # acknowledged and resolved on time
    b = make_case()  # acknowledged late, resolved on time
    c = make_case()  # acknowledged on time, not resolved
    d = make_case(kind="compliment")  # default: acknowledge within 5 working days, no resolve target
    for case in (a, b, c, d):
        assert case.id is not None
    crm.feedback.acknowledge(a.id, at=T0 + H, by="A")  # type: ignore[arg-type]
    crm.feedback.resolve(a.id, at=T0 + 4 * H, by="A", resolution="ok")  # type: ignore[arg-type]
    crm.feedback.acknowledge(b.id, at=T0 + 2 * H, by="A")  # type: ignore[arg-type]
    crm.feedback.resolve(b.id, at=T0 + 3 * H, by="A", resolution="ok")  # type: ignore[arg-type]
    crm.feedback.acknowledge(c.id, at=T0 + H / 2, by="A")  # type: ignore[arg-type]
    crm.feedback.resolve(d.id, at=T0 + 100 * H, by="A", resolution="thanked")  # type: ignore[arg-type]
    # b breached (late acknowledgement), c breached after 4 h (not resolved)
    assert crm.feedback.sla(now=T0 + 3 * H) == SlaResult(4, 3, 3, 1)
    assert crm.feedback.sla(now=T0 + 5 * H) == SlaResult(4, 3, 3, 2)
    assert crm.feedback.sla(clinic_id=cid, now=T0 + 5 * H) == SlaResult(4, 3, 3, 2)
    assert crm.feedback.sla(clinic_id=cid + 1, now=T0 + 5 * H) == SlaResult(0, 0, 0, 0)
    assert crm.feedback.sla(by="kind", now=T0 + 5 * H) == {
        "complaint": SlaResult(3, 2, 2, 2),
        "compliment": SlaResult(1, 1, 1, 0),
    }


def test_groups_by_month_in_the_clinics_zone_and_by_clinic(crm: ClinicCRM, cid: int, make_case: CaseFactory) -> None:
    # 2026-03-31 17:00 UTC is 2026-04-01 01:00 in Taipei: an April case there
    make_case(at=datetime(2026, 3, 31, 17, 0, tzinfo=UTC))
    make_case(at=datetime(2026, 3, 31, 15, 0, tzinfo=UTC))
    make_case(at=datetime(2026, 3, 1, 0, 0, tzinfo=TPE))
    london = crm.clinics.create("London", timezone="Europe/London", locale="en_GB", region="GB")
    assert london.id is not None
    crm.feedback.record(
        london.id, kind="question", channel="email", text="?", at=datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    )  # 00:30 BST on 1 April
    now = datetime(2026, 3, 1, tzinfo=UTC)  # before anything falls due
    assert crm.feedback.sla(by="month", now=now) == {
        "2026-03": SlaResult(2, 0, 0, 0),
        "2026-04": SlaResult(2, 0, 0, 0),
    }
    assert crm.feedback.sla(by="month", clinic_id=cid, now=now) == {
        "2026-03": SlaResult(2, 0, 0, 0),
        "2026-04": SlaResult(1, 0, 0, 0),
    }
    assert crm.feedback.sla(by="clinic", now=now) == {cid: SlaResult(3, 0, 0, 0), london.id: SlaResult(1, 0, 0, 0)}
    since = datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
    assert crm.feedback.sla(since=since, now=now).cases == 2  # type: ignore[union-attr]
    assert crm.feedback.sla(until=since, now=now).cases == 2  # type: ignore[union-attr]
    assert crm.feedback.sla(by="month", since=since, until=since, now=now) == {}


def test_bad_arguments(crm: ClinicCRM) -> None:
    with pytest.raises(ValidationError) as info:
        crm.feedback.sla(by="week")
    assert info.value.field == "by"
    with pytest.raises(ValidationError) as info:
        crm.feedback.sla(since=T0, until=T0 - H)
    assert info.value.field == "until"
    with pytest.raises(NaiveDatetimeError):
        crm.feedback.sla(now=T0.replace(tzinfo=None))
    with pytest.raises(NaiveDatetimeError):
        crm.feedback.sla(since=T0.replace(tzinfo=None))
    with pytest.raises(ValidationError) as info:
        crm.feedback.sla(clinic_id="1")  # type: ignore[arg-type]
    assert info.value.field == "clinic_id"
