"""Visits: the status machine, history and clinic measures, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from clinic_crm import ClinicCRM, InvalidTransition, NaiveDatetimeError, NotFound, ValidationError
from clinic_crm.models import Clinic, Patient
from tests.conftest import T0, count_rows


@pytest.fixture
def patient(crm: ClinicCRM, clinic: Clinic) -> Patient:
    return crm.patients.register(clinic.id, family_name="王", given_name="小明", phone="0912345678")  # type: ignore[arg-type]


def test_book_then_complete(crm: ClinicCRM, patient: Patient) -> None:
    visit = crm.visits.book(patient.id, starts_at=T0, kind="checkup", practitioner="Dr. Lin")  # type: ignore[arg-type]
    assert visit.status == "booked" and visit.starts_at == T0 and visit.starts_at.tzinfo is UTC
    crm.visits.check_in(visit.id, at=T0 - timedelta(minutes=5))  # type: ignore[arg-type]
    crm.visits.start_care(visit.id, at=T0 + timedelta(minutes=10))  # type: ignore[arg-type]
    done = crm.visits.complete(visit.id, at=T0 + timedelta(minutes=40))  # type: ignore[arg-type]
    assert done.status == "completed"
    assert done.completed_at == T0 + timedelta(minutes=40)
    stats = crm.visits.stats(patient.clinic_id, since=T0 - timedelta(days=1), until=T0 + timedelta(days=1))
    assert stats.visits == 1 and stats.completed == 1 and stats.median_wait_minutes == 15.0


def test_starts_at_keeps_the_instant(crm: ClinicCRM, patient: Patient) -> None:
    from zoneinfo import ZoneInfo

    local = datetime(2026, 3, 8, 2, 30, tzinfo=ZoneInfo("Asia/Taipei"))
    visit = crm.visits.book(patient.id, starts_at=local, kind="checkup")  # type: ignore[arg-type]
    got = crm.visits.get(visit.id)  # type: ignore[arg-type]
    assert got.starts_at == local and got.starts_at.utcoffset() == timedelta(0)


ALLOWED = {
    ("booked", "check_in"),
    ("booked", "cancel"),
    ("booked", "mark_no_show"),
    ("checked_in", "complete"),
}
ROUTES: dict[str, list[str]] = {
    "booked": [],
    "checked_in": ["check_in"],
    "completed": ["check_in", "complete"],
    "cancelled": ["cancel"],
    "no_show": ["mark_no_show"],
}


@pytest.mark.parametrize("start", list(ROUTES))
@pytest.mark.parametrize("action", ["check_in", "complete", "cancel", "mark_no_show"])
def test_every_transition(crm: ClinicCRM, patient: Patient, start: str, action: str) -> None:
    visit = crm.visits.book(patient.id, starts_at=T0, kind="checkup")  # type: ignore[arg-type]
    vid: int = visit.id  # type: ignore[assignment]
    for step in ROUTES[start]:
        getattr(crm.visits, step)(vid, at=T0)
    move: Callable[..., object] = getattr(crm.visits, action)
    if (start, action) in ALLOWED:
        move(vid, at=T0)
    else:
        with pytest.raises(InvalidTransition) as info:
            move(vid, at=T0)
        assert info.value.current == start
        assert crm.visits.get(vid).status == start


def test_bad_input(crm: ClinicCRM, patient: Patient) -> None:
    with pytest.raises(NaiveDatetimeError) as info:
        crm.visits.book(patient.id, starts_at=datetime(2026, 3, 1, 9), kind="checkup")  # type: ignore[arg-type]
    assert info.value.field == "starts_at"
    with pytest.raises(ValidationError):
        crm.visits.book(patient.id, starts_at=T0, kind="  ")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        crm.visits.book(12345, starts_at=T0, kind="checkup")
    assert count_rows(crm, "visit") == 0
    visit = crm.visits.book(patient.id, starts_at=T0, kind="checkup")  # type: ignore[arg-type]
    with pytest.raises(NaiveDatetimeError):
        crm.visits.check_in(visit.id, at=datetime(2026, 3, 1, 9))  # type: ignore[arg-type]
    assert crm.visits.get(visit.id).status == "booked"  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        crm.visits.check_in(4242, at=T0)


def test_history_newest_first(crm: ClinicCRM, patient: Patient) -> None:
    ids = [
        crm.visits.book(patient.id, starts_at=T0 + timedelta(days=d), kind="checkup").id  # type: ignore[arg-type]
        for d in (3, -10, 7, 0)
    ]
    history = crm.visits.history(patient.id)  # type: ignore[arg-type]
    assert [v.id for v in history] == [ids[2], ids[0], ids[3], ids[1]]


def test_no_show_rate(crm: ClinicCRM, patient: Patient) -> None:
    for i, ending in enumerate(["complete", "mark_no_show", "complete", "cancel"]):
        v = crm.visits.book(patient.id, starts_at=T0 + timedelta(hours=i), kind="checkup")  # type: ignore[arg-type]
        if ending == "complete":
            crm.visits.check_in(v.id, at=T0)  # type: ignore[arg-type]
        getattr(crm.visits, ending)(v.id, at=T0)
    stats = crm.visits.stats(patient.clinic_id, since=T0, until=T0 + timedelta(days=1))
    assert (stats.visits, stats.completed, stats.no_shows, stats.cancelled) == (4, 2, 1, 1)
    assert stats.no_show_rate == pytest.approx(1 / 3)
    assert stats.median_wait_minutes is None
