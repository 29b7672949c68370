"""``crm.events.stats``: events, seats held, attendance, by kind and by month in the clinic's zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clinic_crm import ClinicCRM, EventStats, ValidationError
from clinic_crm.models import Clinic
from tests.conftest import T0

from .conftest import EventFactory, PatientFactory


def _run(crm: ClinicCRM, event_id: int, patients: list[int], *, attended: int, close: bool = True) -> None:
    registrations = [crm.events.register(event_id, patient_id=p, at=T0) for p in patients]
    for registration in registrations[:attended]:
        crm.events.check_in(registration.id, at=T0)
    if close:
        crm.events.close(event_id, at=crm.events.get(event_id).ends_at)


def test_empty(crm: ClinicCRM, clinic: Clinic) -> None:
    assert crm.events.stats() == EventStats(0, 0, 0, 0, None)
    assert crm.events.stats(by="month") == {}
    assert crm.events.stats(by="kind") == {}


def test_counts_rate_and_groups(
    crm: ClinicCRM, clinic: Clinic, make_event: EventFactory, make_patient: PatientFactory
) -> None:
    patients = [make_patient().id for _ in range(5)]
    # 2026-03-31 20:00 UTC is 1 April 04:00 in Taipei: an April event there
    april = datetime(2026, 3, 31, 20, 0, tzinfo=UTC)
    march = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    talk = make_event(starts_at=march, ends_at=march + timedelta(hours=2), capacity=3)
    group = make_event(kind="patient_group", starts_at=april, ends_at=april + timedelta(hours=2), capacity=None)
    empty = make_event(kind="screening", starts_at=april, ends_at=april + timedelta(hours=1))
    gone = make_event(starts_at=april, ends_at=april + timedelta(hours=1))
    _run(crm, talk.id, patients[:4], attended=2)  # 3 seated (2 attended, 1 no-show), 1 waitlisted
    _run(crm, group.id, patients[:2], attended=0, close=False)  # open: 2 registered, none judged
    crm.events.register(gone.id, patient_id=patients[0], at=T0)
    crm.events.cancel(gone.id, at=T0, reason="no room")  # cancelled events are left out
    cancelled_one = crm.events.register(group.id, patient_id=patients[4], at=T0)
    crm.events.cancel_registration(cancelled_one.id, at=T0)

    total = crm.events.stats(clinic_id=clinic.id)
    assert total == EventStats(events=3, registered=5, attended=2, no_show=1, attendance_rate=pytest.approx(2 / 3))
    assert crm.events.stats(by="kind") == {
        "health_talk": EventStats(1, 3, 2, 1, pytest.approx(2 / 3)),
        "patient_group": EventStats(1, 2, 0, 0, None),
        "screening": EventStats(1, 0, 0, 0, None),
    }
    assert crm.events.stats(by="month") == {
        "2026-03": EventStats(1, 3, 2, 1, pytest.approx(2 / 3)),
        "2026-04": EventStats(2, 2, 0, 0, None),
    }
    april_taipei = datetime(2026, 3, 31, 16, 0, tzinfo=UTC)  # 1 April 00:00 in Taipei
    assert crm.events.stats(since=april_taipei) == EventStats(2, 2, 0, 0, None)
    assert crm.events.stats(until=april_taipei).events == 1
    assert crm.events.stats(clinic_id=clinic.id + 1) == EventStats(0, 0, 0, 0, None)  # type: ignore[operator]
    assert empty.id and group.id


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"by": "practitioner"}, "by"),
        ({"clinic_id": "1"}, "clinic_id"),
        ({"since": T0, "until": T0 - timedelta(days=1)}, "until"),
        ({"since": datetime(2026, 1, 1)}, "since"),
    ],
)
def test_bad_filters(crm: ClinicCRM, kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        crm.events.stats(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
