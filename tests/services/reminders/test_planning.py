"""schedule, add_recall and plan: appointment reminders, recalls, birthdays, greetings, idempotency."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from clinic_crm import ClinicCRM, Conflict, InvalidTransition, NaiveDatetimeError, NotFound, ValidationError
from clinic_crm.models import Clinic, Patient
from clinic_crm.services.reminders import recalls
from clinic_crm.services.reminders.scheduling import new_reminder
from clinic_crm.testing import RecordingSender
from tests.conftest import T0, count_rows

DAY = timedelta(days=1)


def test_schedule_returns_a_pending_reminder(crm: ClinicCRM, patient: Patient) -> None:
    r = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0, channel="email")
    assert (r.status, r.kind, r.purpose, r.channel, r.attempts) == ("pending", "recall", "care", "email", 0)
    assert r.due_at == T0 and r.sent_at is None and r.suppressed_reason is None
    assert crm.reminders.get(r.id).idempotency_key == r.idempotency_key


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"purpose": "ads"}, ValidationError, "purpose"),
        ({"channel": "fax"}, ValidationError, "channel"),
        ({"kind": " "}, ValidationError, "kind"),
        ({"due_at": datetime(2026, 3, 2, 9, 0)}, NaiveDatetimeError, "due_at"),
        ({"visit_id": 999}, NotFound, None),
    ],
)
def test_schedule_rejects_bad_input_and_writes_nothing(
    crm: ClinicCRM, patient: Patient, kwargs: dict[str, object], error: type[Exception], field: str | None
) -> None:
    args: dict[str, object] = {"kind": "recall", "purpose": "care", "due_at": T0, **kwargs}
    with pytest.raises(error) as info:
        crm.reminders.schedule(patient.id, **args)  # type: ignore[arg-type]
    if field is not None:
        assert getattr(info.value, "field", None) == field
    assert count_rows(crm, "reminder") == 0


def test_schedule_for_unknown_patient_or_someone_elses_visit(
    crm: ClinicCRM, make_patient: Callable[..., Patient]
) -> None:
    a, b = make_patient(), make_patient()
    visit = crm.visits.book(b.id, starts_at=T0 + DAY, kind="checkup")
    with pytest.raises(NotFound):
        crm.reminders.schedule(a.id + 100, kind="recall", purpose="care", due_at=T0)
    with pytest.raises(ValidationError) as info:
        crm.reminders.schedule(a.id, kind="appointment", purpose="care", due_at=T0, visit_id=visit.id)
    assert info.value.field == "visit_id"
    assert count_rows(crm, "reminder") == 0


def test_get_unknown_reminder(crm: ClinicCRM) -> None:
    with pytest.raises(NotFound):
        crm.reminders.get(12345)


def test_plan_key_is_unique_in_the_database(crm: ClinicCRM, patient: Patient) -> None:
    with crm.engine.connect() as conn:
        from sqlalchemy.orm import Session

        with Session(conn) as session:
            new_reminder(session, patient.id, kind="x", purpose="care", due_at=T0, plan_key="k")
            with pytest.raises(IntegrityError):
                new_reminder(session, patient.id, kind="x", purpose="care", due_at=T0, plan_key="k")
            session.rollback()


# --- appointments ------------------------------------------------------------------------------------------------


def test_plan_creates_appointment_reminder_24h_before_and_is_idempotent(crm: ClinicCRM, patient: Patient) -> None:
    visit = crm.visits.book(patient.id, starts_at=T0 + 2 * DAY, kind="checkup")
    assert crm.reminders.plan(now=T0, horizon=DAY - timedelta(minutes=1)) == 0  # due T0 + 1 day
    assert crm.reminders.plan(now=T0, horizon=DAY) == 1
    assert crm.reminders.plan(now=T0, horizon=DAY) == 0
    assert crm.reminders.plan(now=T0 + timedelta(hours=1), horizon=2 * DAY) == 0
    [r] = crm.reminders.list(patient_id=patient.id)
    assert (r.kind, r.purpose, r.visit_id, r.due_at) == ("appointment", "care", visit.id, T0 + DAY)
    assert r.expires_at == T0 + 2 * DAY
    assert count_rows(crm, "reminder") == 1


def test_plan_uses_the_clinic_offsets(crm: ClinicCRM, clinic: Clinic, patient: Patient) -> None:
    crm.clinics.update(clinic.id, appointment_offsets=[1440, 120])
    crm.visits.book(patient.id, starts_at=T0 + 2 * DAY, kind="checkup")
    assert crm.reminders.plan(now=T0, horizon=3 * DAY) == 2
    dues = sorted(r.due_at for r in crm.reminders.list(patient_id=patient.id))
    assert dues == [T0 + DAY, T0 + 2 * DAY - timedelta(hours=2)]
    assert crm.reminders.plan(now=T0, horizon=3 * DAY) == 0


def test_offsets_already_past_collapse_into_one(crm: ClinicCRM, clinic: Clinic, patient: Patient) -> None:
    crm.clinics.update(clinic.id, appointment_offsets=[2880, 1440, 60])
    crm.visits.book(patient.id, starts_at=T0 + timedelta(hours=3), kind="checkup")
    assert crm.reminders.plan(now=T0, horizon=DAY) == 2  # one now (for the 24 h offset) and one 1 h before
    dues = sorted(r.due_at for r in crm.reminders.list(patient_id=patient.id))
    assert dues == [T0 - timedelta(hours=21), T0 + timedelta(hours=2)]


def test_past_and_cancelled_visits_get_no_appointment_reminder(crm: ClinicCRM, patient: Patient) -> None:
    crm.visits.book(patient.id, starts_at=T0 - timedelta(hours=1), kind="checkup")
    cancelled = crm.visits.book(patient.id, starts_at=T0 + DAY, kind="checkup")
    crm.visits.cancel(cancelled.id, at=T0 - DAY)
    assert crm.reminders.plan(now=T0, horizon=2 * DAY) == 0


def test_cancelling_or_missing_a_visit_cancels_its_pending_reminders(
    crm: ClinicCRM, patient: Patient, sender: RecordingSender
) -> None:
    a = crm.visits.book(patient.id, starts_at=T0 + 2 * DAY, kind="checkup")
    b = crm.visits.book(patient.id, starts_at=T0 + 2 * DAY + timedelta(hours=1), kind="checkup")
    crm.reminders.plan(now=T0, horizon=2 * DAY)
    crm.visits.cancel(a.id, at=T0, reason="patient called")
    crm.visits.mark_no_show(b.id, at=T0 + 3 * DAY)
    statuses = {r.visit_id: r.status for r in crm.reminders.list(patient_id=patient.id)}
    assert statuses == {a.id: "cancelled", b.id: "cancelled"}
    assert crm.reminders.dispatch(sender, now=T0 + 2 * DAY).claimed == 0
    assert crm.reminders.plan(now=T0, horizon=2 * DAY) == 0


# --- recalls -----------------------------------------------------------------------------------------------------


def _complete(crm: ClinicCRM, patient: Patient, at: datetime, kind: str = "cleaning") -> int:
    visit = crm.visits.book(patient.id, starts_at=at, kind=kind)
    crm.visits.check_in(visit.id, at=at)
    crm.visits.complete(visit.id, at=at)
    assert visit.id is not None
    return visit.id


def test_recall_falls_due_every_after_the_last_completed_visit(crm: ClinicCRM, patient: Patient) -> None:
    plan = crm.reminders.add_recall(patient.id, kind="dental_recall", every="6 months", after_visit_kind="cleaning")
    assert (plan.every, plan.after_visit_kind, plan.active) == ("6 months", "cleaning", True)
    _complete(crm, patient, datetime(2025, 1, 10, 2, 0, tzinfo=UTC))
    _complete(crm, patient, datetime(2025, 9, 1, 2, 0, tzinfo=UTC))  # the last one counts
    _complete(crm, patient, datetime(2025, 12, 1, 2, 0, tzinfo=UTC), kind="xray")  # another kind does not
    now = datetime(2026, 2, 25, 0, 0, tzinfo=UTC)
    assert crm.reminders.plan(now=now, horizon=timedelta(days=7)) == 1
    [r] = crm.reminders.list(patient_id=patient.id)
    assert (r.kind, r.purpose, r.care_plan_id) == ("dental_recall", "care", plan.id)
    assert r.due_at == datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    assert crm.reminders.plan(now=now, horizon=timedelta(days=7)) == 0
    sender = RecordingSender()
    crm.reminders.dispatch(sender, now=datetime(2026, 3, 1, 3, 0, tzinfo=UTC))
    assert "定期回診" in sender.messages[0].body  # the built-in recall text for a custom kind


def test_recall_month_end_is_clamped_like_relativedelta(crm: ClinicCRM, patient: Patient) -> None:
    crm.reminders.add_recall(patient.id, kind="recall", every="1 month", after_visit_kind="cleaning")
    _complete(crm, patient, datetime(2026, 1, 31, 2, 0, tzinfo=UTC))  # 10:00 Taipei
    assert crm.reminders.plan(now=datetime(2026, 2, 20, tzinfo=UTC), horizon=timedelta(days=30)) == 1
    [r] = crm.reminders.list(patient_id=patient.id)
    assert r.due_at == datetime(2026, 2, 28, 2, 0, tzinfo=UTC)


def test_recall_with_an_rrule(crm: ClinicCRM, patient: Patient) -> None:
    crm.reminders.add_recall(
        patient.id, kind="recall", every="RRULE:FREQ=WEEKLY;INTERVAL=2", after_visit_kind="cleaning"
    )
    _complete(crm, patient, datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    assert crm.reminders.plan(now=datetime(2026, 3, 3, tzinfo=UTC), horizon=timedelta(days=14)) == 1
    [r] = crm.reminders.list(patient_id=patient.id)
    assert r.due_at == datetime(2026, 3, 16, 2, 0, tzinfo=UTC)


def test_recall_is_satisfied_while_a_later_visit_is_booked(crm: ClinicCRM, patient: Patient) -> None:
    crm.reminders.add_recall(patient.id, kind="recall", every="6 months", after_visit_kind="cleaning")
    _complete(crm, patient, datetime(2025, 9, 1, 2, 0, tzinfo=UTC))
    now = datetime(2026, 2, 25, tzinfo=UTC)
    crm.reminders.plan(now=now, horizon=timedelta(days=7))
    [pending] = crm.reminders.list(patient_id=patient.id, kind="recall")
    booked = crm.visits.book(patient.id, starts_at=datetime(2026, 3, 10, 2, 0, tzinfo=UTC), kind="cleaning")
    crm.reminders.plan(now=now, horizon=timedelta(days=7))
    satisfied = crm.reminders.get(pending.id)
    assert (satisfied.status, satisfied.suppressed_reason) == ("cancelled", "satisfied")  # no message
    assert crm.reminders.list(patient_id=patient.id, kind="recall", status="pending") == []
    sender = RecordingSender()
    assert crm.reminders.dispatch(sender, now=datetime(2026, 3, 2, 3, 0, tzinfo=UTC)).claimed == 0
    # a cancelled booking does not satisfy it: the same recall comes back (same key, nothing duplicated)
    crm.visits.cancel(booked.id, at=now)
    assert crm.reminders.plan(now=now, horizon=timedelta(days=7)) == 1
    assert crm.reminders.plan(now=now, horizon=timedelta(days=7)) == 0
    back = crm.reminders.get(pending.id)
    assert (back.status, back.suppressed_reason) == ("pending", None)
    assert count_rows(crm, "reminder") == 1
    assert crm.reminders.dispatch(sender, now=datetime(2026, 3, 2, 3, 0, tzinfo=UTC)).sent == 1


def test_recall_not_satisfied_by_cancelled_or_no_show_visits(crm: ClinicCRM, patient: Patient) -> None:
    crm.reminders.add_recall(patient.id, kind="recall", every="6 months", after_visit_kind="cleaning")
    _complete(crm, patient, datetime(2025, 9, 1, 2, 0, tzinfo=UTC))
    cancelled = crm.visits.book(patient.id, starts_at=datetime(2026, 3, 10, 2, 0, tzinfo=UTC), kind="cleaning")
    crm.visits.cancel(cancelled.id, at=datetime(2026, 2, 1, tzinfo=UTC))
    missed = crm.visits.book(patient.id, starts_at=datetime(2026, 2, 10, 2, 0, tzinfo=UTC), kind="cleaning")
    crm.visits.mark_no_show(missed.id, at=datetime(2026, 2, 10, 3, 0, tzinfo=UTC))
    assert crm.reminders.plan(now=datetime(2026, 2, 25, tzinfo=UTC), horizon=timedelta(days=7)) == 1


def test_recall_without_a_completed_visit_plans_nothing(crm: ClinicCRM, patient: Patient) -> None:
    crm.reminders.add_recall(patient.id, kind="recall", every="1 year", after_visit_kind="cleaning")
    assert crm.reminders.plan(now=T0, horizon=timedelta(days=400)) == 0


def test_a_newer_visit_supersedes_the_pending_recall(crm: ClinicCRM, patient: Patient) -> None:
    crm.reminders.add_recall(patient.id, kind="recall", every="2 weeks", after_visit_kind="cleaning")
    _complete(crm, patient, datetime(2026, 3, 1, 2, 0, tzinfo=UTC))
    crm.reminders.plan(now=datetime(2026, 3, 2, tzinfo=UTC), horizon=timedelta(days=30))
    [old] = crm.reminders.list(patient_id=patient.id)
    _complete(crm, patient, datetime(2026, 3, 10, 2, 0, tzinfo=UTC))
    assert crm.reminders.plan(now=datetime(2026, 3, 11, tzinfo=UTC), horizon=timedelta(days=30)) == 1
    assert crm.reminders.get(old.id).status == "cancelled"
    [new] = crm.reminders.list(patient_id=patient.id, status="pending")
    assert new.due_at == datetime(2026, 3, 24, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "every",
    [
        "6 moons",
        "0 months",
        "",
        "FREQ=FORTNIGHTLY",
        "DTSTART:20260101T000000\nFREQ=DAILY",
        "FREQ=DAILY;COUNT=1",
        "monthly",
    ],
)
def test_add_recall_rejects_bad_intervals(crm: ClinicCRM, patient: Patient, every: str) -> None:
    with pytest.raises(ValidationError) as info:
        crm.reminders.add_recall(patient.id, kind="recall", every=every, after_visit_kind="cleaning")
    assert info.value.field == "every"
    assert count_rows(crm, "care_plan") == 0


@pytest.mark.parametrize("every", ["2 weeks", "1 year", "10 days", "3 Months", "FREQ=MONTHLY;INTERVAL=6"])
def test_add_recall_accepts(crm: ClinicCRM, patient: Patient, every: str) -> None:
    assert crm.reminders.add_recall(patient.id, kind="recall", every=every, after_visit_kind="x").id is not None


# --- birthdays and greetings -------------------------------------------------------------------------------------


def test_birthday_greeting_is_marketing_at_ten_local(
    crm: ClinicCRM, clinic: Clinic, make_patient: Callable[..., Patient], sender: RecordingSender
) -> None:
    p = make_patient(birth_date=date(1990, 3, 4))
    make_patient(birth_date=date(1990, 5, 4))
    make_patient()
    now = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)  # 3 March 00:00 Taipei
    assert crm.reminders.plan(now=now, horizon=timedelta(days=2)) == 0  # birthday greetings are opt-in
    crm.clinics.update(clinic.id, birthday_greetings=True)  # type: ignore[arg-type]
    assert crm.reminders.plan(now=now, horizon=timedelta(days=1)) == 0
    assert crm.reminders.plan(now=now, horizon=timedelta(days=2)) == 1
    [r] = crm.reminders.list(kind="birthday")
    assert (r.patient_id, r.purpose) == (p.id, "marketing")
    assert r.due_at == datetime(2026, 3, 4, 2, 0, tzinfo=UTC)  # 10:00 Taipei
    assert r.expires_at == datetime(2026, 3, 4, 16, 0, tzinfo=UTC)  # the end of that day in Taipei
    assert crm.reminders.plan(now=now, horizon=timedelta(days=2)) == 0
    crm.patients.grant_consent(p.id, "sms", "marketing", source="web form", at=now)
    crm.reminders.dispatch(sender, now=r.due_at)
    assert "生日快樂" in sender.messages[0].body and "退訂" in sender.messages[0].body


def test_feb_29_birthday_in_a_common_year(crm: ClinicCRM, clinic: Clinic, make_patient: Callable[..., Patient]) -> None:
    crm.clinics.update(clinic.id, birthday_greetings=True)  # type: ignore[arg-type]
    make_patient(birth_date=date(2000, 2, 29))
    assert crm.reminders.plan(now=datetime(2026, 2, 27, 16, 0, tzinfo=UTC), horizon=timedelta(days=1)) == 1
    [r] = crm.reminders.list(kind="birthday")
    assert r.due_at == datetime(2026, 2, 28, 2, 0, tzinfo=UTC)


def test_fixed_date_greeting_goes_to_every_patient_in_their_zone(
    crm: ClinicCRM, clinic: Clinic, make_patient: Callable[..., Patient]
) -> None:
    tw = make_patient()
    ny = make_patient(timezone="America/New_York")
    greeting = crm.reminders.add_greeting(clinic.id, kind="new_year", month=1, day=1, local_time=time(9, 30))
    now = datetime(2025, 12, 30, tzinfo=UTC)
    assert crm.reminders.plan(now=now, horizon=timedelta(days=3)) == 2
    dues = {r.patient_id: r for r in crm.reminders.list(kind="new_year")}
    assert dues[tw.id].due_at == datetime(2026, 1, 1, 1, 30, tzinfo=UTC)
    assert dues[ny.id].due_at == datetime(2026, 1, 1, 14, 30, tzinfo=UTC)
    assert {r.purpose for r in dues.values()} == {"marketing"}
    assert crm.reminders.plan(now=now, horizon=timedelta(days=3)) == 0
    assert greeting.month == 1


def test_greeting_validation(crm: ClinicCRM, clinic: Clinic) -> None:
    with pytest.raises(ValidationError):
        crm.reminders.add_greeting(clinic.id, kind="x", month=2, day=30)
    with pytest.raises(ValidationError):
        crm.reminders.add_greeting(clinic.id, kind="x", month=13, day=1)
    assert crm.reminders.add_greeting(clinic.id, kind="leap", month=2, day=29).day == 29
    assert count_rows(crm, "greeting") == 1


def test_plan_validates(crm: ClinicCRM) -> None:
    with pytest.raises(NaiveDatetimeError):
        crm.reminders.plan(now=datetime(2026, 1, 1), horizon=DAY)
    with pytest.raises(ValidationError):
        crm.reminders.plan(now=T0, horizon=-DAY)


def test_cancel_a_pending_reminder_only(crm: ClinicCRM, patient: Patient, sender: RecordingSender) -> None:
    a = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0)
    assert crm.reminders.cancel(a.id).status == "cancelled"
    b = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0)
    crm.reminders.dispatch(sender, now=T0)
    with pytest.raises(InvalidTransition):
        crm.reminders.cancel(b.id)
    assert [m.reminder_id for m in sender.messages] == [b.id]


def test_rrule_recall_keeps_reminding_at_each_occurrence(crm: ClinicCRM, patient: Patient) -> None:
    crm.reminders.add_recall(patient.id, kind="recall", every="FREQ=MONTHLY", after_visit_kind="cleaning")
    _complete(crm, patient, datetime(2026, 1, 5, 2, 0, tzinfo=UTC))
    sender = RecordingSender()
    for month in (2, 3, 4):
        now = datetime(2026, month, 5, 3, 0, tzinfo=UTC)
        assert crm.reminders.plan(now=now, horizon=timedelta(hours=1)) == 1
        assert crm.reminders.dispatch(sender, now=now).sent == 1
    assert [r.due_at.month for r in crm.reminders.list(patient_id=patient.id, status="sent")] == [2, 3, 4]
    # a "6 months" text plan reminds once per completed visit
    crm.reminders.add_recall(patient.id, kind="xray_recall", every="1 month", after_visit_kind="xray")
    _complete(crm, patient, datetime(2026, 1, 5, 2, 0, tzinfo=UTC), kind="xray")
    crm.reminders.plan(now=datetime(2026, 2, 5, 3, 0, tzinfo=UTC), horizon=timedelta(days=90))
    [xray] = crm.reminders.list(patient_id=patient.id, kind="xray_recall")
    assert xray.due_at == datetime(2026, 2, 5, 2, 0, tzinfo=UTC)


def test_a_birthday_greeting_sent_a_day_late_expires(
    crm: ClinicCRM, clinic: Clinic, make_patient: Callable[..., Patient], sender: RecordingSender
) -> None:
    crm.clinics.update(clinic.id, birthday_greetings=True)  # type: ignore[arg-type]
    p = make_patient(birth_date=date(1990, 3, 4))
    crm.patients.grant_consent(p.id, "sms", "marketing", source="form", at=T0 - DAY)
    crm.reminders.plan(now=datetime(2026, 3, 3, 16, 0, tzinfo=UTC), horizon=DAY)  # 4 March 00:00 Taipei
    report = crm.reminders.dispatch(sender, now=datetime(2026, 3, 5, 2, 0, tzinfo=UTC))  # 5 March, 10:00
    assert report.suppressed_by_reason == {"expired": 1} and sender.messages == []


def test_greeting_starts_on_and_inactive_clinic_patients(
    crm: ClinicCRM, clinic: Clinic, make_patient: Callable[..., Patient]
) -> None:
    make_patient()
    crm.reminders.add_greeting(clinic.id, kind="anniversary", month=3, day=10, starts_on=date(2027, 1, 1))
    assert crm.reminders.plan(now=datetime(2026, 3, 9, tzinfo=UTC), horizon=timedelta(days=3)) == 0
    assert crm.reminders.plan(now=datetime(2027, 3, 9, tzinfo=UTC), horizon=timedelta(days=3)) == 1
    with pytest.raises(ValidationError):
        crm.reminders.add_greeting(clinic.id, kind="x", month=1, day=1, local_time="10:00")  # type: ignore[arg-type]


def test_list_filters_and_validates(crm: ClinicCRM, patient: Patient) -> None:
    crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0 + DAY)
    crm.reminders.schedule(patient.id, kind="survey", purpose="care", due_at=T0)
    assert [r.kind for r in crm.reminders.list(patient_id=patient.id)] == ["survey", "recall"]
    assert [r.kind for r in crm.reminders.list(kind="recall", status="pending")] == ["recall"]
    assert len(crm.reminders.list(limit=1)) == 1
    with pytest.raises(ValidationError):
        crm.reminders.list(status="lost")
    with pytest.raises(ValidationError):
        crm.reminders.list(limit=0)


# --- set-based planning: one builder of rows, bad rows, gone patients, several clinics ----------------------------


def test_planned_and_scheduled_rows_get_the_same_column_rules(crm: ClinicCRM, patient: Patient) -> None:
    crm.visits.book(patient.id, starts_at=T0 + 2 * DAY, kind="checkup")
    assert crm.reminders.plan(now=T0, horizon=2 * DAY) == 1
    crm.reminders.schedule(patient.id, kind="note", purpose="care", due_at=T0 + DAY)
    planned, scheduled = sorted(crm.reminders.list(patient_id=patient.id), key=lambda r: r.kind)
    assert (planned.kind, scheduled.kind) == ("appointment", "note")
    for r in (planned, scheduled):
        assert (r.status, r.attempts, r.ready_at, r.payload, r.claim_token) == ("pending", 0, r.due_at, {}, None)
        assert len(r.idempotency_key) == 32 and int(r.idempotency_key, 16) >= 0
    assert planned.idempotency_key != scheduled.idempotency_key
    assert planned.due_at == T0 + DAY and planned.expires_at == T0 + 2 * DAY and planned.created_at == T0


def test_every_planned_row_gets_its_own_idempotency_key(
    crm: ClinicCRM, clinic: Clinic, make_patient: Callable[..., Patient]
) -> None:
    for _ in range(5):
        make_patient()
    crm.reminders.add_greeting(clinic.id, kind="new_year", month=1, day=1)
    assert crm.reminders.plan(now=datetime(2025, 12, 31, tzinfo=UTC), horizon=2 * DAY) == 5
    keys = {r.idempotency_key for r in crm.reminders.list(kind="new_year")}
    assert len(keys) == 5


def test_a_bad_recall_row_never_stops_planning(crm: ClinicCRM, patient: Patient) -> None:
    good = crm.reminders.add_recall(patient.id, kind="recall", every="6 months", after_visit_kind="cleaning")
    bad = crm.reminders.add_recall(patient.id, kind="recall", every="1 year", after_visit_kind="cleaning")
    with crm.engine.begin() as conn:  # a row written around the API, e.g. by an old version or by hand
        conn.execute(text("UPDATE care_plan SET every = 'FREQ=NEVER' WHERE id = :id"), {"id": bad.id})
    _complete(crm, patient, datetime(2025, 9, 1, 2, 0, tzinfo=UTC))
    assert crm.reminders.plan(now=datetime(2026, 2, 25, tzinfo=UTC), horizon=timedelta(days=7)) == 1
    [r] = crm.reminders.list(patient_id=patient.id)
    assert r.care_plan_id == good.id and r.due_at == datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def test_recalls_are_planned_across_batches(
    crm: ClinicCRM, make_patient: Callable[..., Patient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recalls, "BATCH", 2)
    patients = [make_patient() for _ in range(5)]
    for p in patients:
        crm.reminders.add_recall(p.id, kind="recall", every="6 months", after_visit_kind="cleaning")
        _complete(crm, p, datetime(2025, 9, 1, 2, 0, tzinfo=UTC))
    booked = crm.visits.book(patients[0].id, starts_at=datetime(2026, 4, 1, 2, 0, tzinfo=UTC), kind="cleaning")
    now = datetime(2026, 2, 25, tzinfo=UTC)
    assert crm.reminders.plan(now=now, horizon=timedelta(days=7)) == 4  # the booked one is satisfied
    crm.visits.cancel(booked.id, at=now)
    assert crm.reminders.plan(now=now, horizon=timedelta(days=7)) == 1
    assert crm.reminders.plan(now=now, horizon=timedelta(days=7)) == 0
    assert {r.patient_id for r in crm.reminders.list(kind="recall", status="pending")} == {p.id for p in patients}


def test_erased_patients_get_nothing_planned(
    crm: ClinicCRM, clinic: Clinic, make_patient: Callable[..., Patient]
) -> None:
    crm.clinics.update(clinic.id, birthday_greetings=True)  # type: ignore[arg-type]
    kept, erased = make_patient(birth_date=date(1990, 1, 1)), make_patient(birth_date=date(1990, 1, 1))
    for p in (kept, erased):
        crm.visits.book(p.id, starts_at=datetime(2026, 1, 2, 2, 0, tzinfo=UTC), kind="checkup")
    crm.reminders.add_greeting(clinic.id, kind="new_year", month=1, day=1)
    crm.patients.erase(erased.id, at=datetime(2025, 12, 1, tzinfo=UTC), by="dpo", reason="patient request")
    assert crm.reminders.plan(now=datetime(2025, 12, 31, tzinfo=UTC), horizon=timedelta(days=2)) == 3
    assert {(r.kind, r.patient_id) for r in crm.reminders.list()} == {
        ("appointment", kept.id),
        ("birthday", kept.id),
        ("new_year", kept.id),
    }


def test_clinics_with_different_offsets_are_planned_together(
    crm: ClinicCRM, clinic: Clinic, make_patient: Callable[..., Patient]
) -> None:
    other = crm.clinics.create("North Dental", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    crm.clinics.update(other.id, appointment_offsets=[1440, 120])  # type: ignore[arg-type]
    here, there = make_patient(), make_patient(clinic_id=other.id)
    for p in (here, there):
        crm.visits.book(p.id, starts_at=T0 + 2 * DAY, kind="checkup")
    assert crm.reminders.plan(now=T0, horizon=2 * DAY) == 3
    dues = sorted((r.patient_id, r.due_at) for r in crm.reminders.list(kind="appointment"))
    assert dues == sorted(
        [(here.id, T0 + DAY), (there.id, T0 + DAY), (there.id, T0 + 2 * DAY - timedelta(minutes=120))]
    )
    # booked three hours ahead: the 2-hour reminder, and the 24-hour one (already past) once, due at once
    late = crm.visits.book(there.id, starts_at=T0 + timedelta(hours=3), kind="checkup")
    assert crm.reminders.plan(now=T0, horizon=DAY) == 2
    assert sorted(r.due_at for r in crm.reminders.list(kind="appointment") if r.visit_id == late.id) == [
        T0 + timedelta(hours=3) - DAY,
        T0 + timedelta(hours=1),
    ]


def test_bulk_event_invitations_refuse_an_erased_patient_and_write_nothing(
    crm: ClinicCRM, clinic: Clinic, make_patient: Callable[..., Patient]
) -> None:
    kept, erased = make_patient(), make_patient()
    crm.patients.erase(erased.id, at=T0 - DAY, by="dpo", reason="patient request")
    event = crm.events.create(
        clinic.id,
        title="Talk",
        kind="health_talk",
        starts_at=T0 + 5 * DAY,
        ends_at=T0 + 5 * DAY + timedelta(hours=1),
        location="Hall",
    )
    before = count_rows(crm, "reminder")
    with pytest.raises(Conflict):
        crm.events.invite(event.id, patient_ids=[kept.id, erased.id], at=T0)
    assert count_rows(crm, "reminder") == before
    assert crm.events.invite(event.id, patient_ids=[kept.id, kept.id], at=T0) == 1
    assert crm.events.invite(event.id, patient_ids=[kept.id], at=T0) == 0
