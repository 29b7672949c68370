"""crm.surveys.invite / invite_completed: checks, the survey reminder with its link, one per visit."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm import ClinicCRM, Conflict, NaiveDatetimeError, NotFound, TokenExpired, ValidationError
from clinic_crm.models import Clinic, Invitation, Reminder, Survey, Visit
from tests.conftest import T0, count_rows
from tests.services.surveys.conftest import VisitFactory


def _reminder(crm: ClinicCRM, reminder_id: int) -> dict[str, Any]:
    with crm.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT patient_id, visit_id, kind, purpose, channel, due_at, status, payload, plan_key "
                "FROM reminder WHERE id = :id"
            ),
            {"id": reminder_id},
        ).one()
    data = dict(row._mapping)
    if isinstance(data["payload"], str):  # SQLite returns JSON as text through raw SQL
        data["payload"] = json.loads(data["payload"])
    return data


def _reminder_due(crm: ClinicCRM, reminder_id: int) -> datetime:
    return crm.reminders.get(reminder_id).due_at


def test_invite_makes_a_token_and_a_care_survey_reminder_with_the_link(
    crm: ClinicCRM, survey: Survey, completed_visit: VisitFactory
) -> None:
    visit = completed_visit(T0)
    assert survey.id is not None and visit.id is not None
    inv = crm.surveys.invite(survey.id, visit_id=visit.id, at=T0 + timedelta(minutes=5))
    assert len(inv.token) >= 43  # 32 random bytes, URL-safe base64
    assert (inv.survey_id, inv.visit_id, inv.clinic_id) == (survey.id, visit.id, survey.clinic_id)
    assert inv.sent_at == T0 + timedelta(minutes=5)
    assert inv.expires_at == inv.sent_at + timedelta(days=14)
    assert inv.used_at is None and inv.channel == "sms"
    assert inv.reminder_id is not None
    reminder = _reminder(crm, inv.reminder_id)
    assert reminder["kind"] == "survey" and reminder["purpose"] == "care" and reminder["status"] == "pending"
    assert reminder["patient_id"] == visit.patient_id and reminder["visit_id"] == visit.id
    assert reminder["payload"] == {"url": f"https://survey.example/s/{inv.token}", "survey_name": survey.name}
    assert reminder["plan_key"] == f"survey:{inv.id}"
    assert reminder["channel"] is None
    assert _reminder_due(crm, inv.reminder_id) == T0 + timedelta(minutes=180)  # completed + clinic delay
    stored = crm.reminders.get(inv.reminder_id)
    assert stored.expires_at == inv.expires_at  # an expired link is never sent
    assert count_rows(crm, "reminder") == 1


def test_reminder_is_due_at_invite_time_when_that_is_later(
    crm: ClinicCRM, survey: Survey, completed_visit: VisitFactory
) -> None:
    visit = completed_visit(T0)
    assert survey.id is not None and visit.id is not None
    at = T0 + timedelta(days=1)
    inv = crm.surveys.invite(survey.id, visit_id=visit.id, at=at, expires_in=timedelta(days=3), channel="email")
    assert inv.expires_at == at + timedelta(days=3)
    assert inv.reminder_id is not None and inv.channel == "email"
    assert _reminder_due(crm, inv.reminder_id) == at
    assert _reminder(crm, inv.reminder_id)["channel"] == "email"


def test_tokens_are_unique_and_unguessable(crm: ClinicCRM, survey: Survey, completed_visit: VisitFactory) -> None:
    assert survey.id is not None
    tokens = set()
    for _ in range(5):
        visit = completed_visit()
        assert visit.id is not None
        tokens.add(crm.surveys.invite(survey.id, visit_id=visit.id, at=T0).token)
    assert len(tokens) == 5 and all(len(t) >= 43 for t in tokens)


def test_without_a_url_template_no_reminder_is_scheduled(
    crm: ClinicCRM, survey: Survey, sclinic: Clinic, completed_visit: VisitFactory
) -> None:
    assert sclinic.id is not None and survey.id is not None
    crm.clinics.update(sclinic.id, survey_url_template=None)
    visit = completed_visit()
    assert visit.id is not None
    inv = crm.surveys.invite(survey.id, visit_id=visit.id, at=T0)
    assert inv.reminder_id is None and inv.token
    assert count_rows(crm, "reminder") == 0 and count_rows(crm, "invitation") == 1


def test_send_false_schedules_nothing(crm: ClinicCRM, survey: Survey, completed_visit: VisitFactory) -> None:
    visit = completed_visit()
    assert survey.id is not None and visit.id is not None
    inv = crm.surveys.invite(survey.id, visit_id=visit.id, at=T0, send=False)
    assert inv.reminder_id is None and count_rows(crm, "reminder") == 0


def test_only_completed_visits_of_the_same_clinic(
    crm: ClinicCRM, survey: Survey, sclinic: Clinic, completed_visit: VisitFactory
) -> None:
    assert survey.id is not None and sclinic.id is not None
    patient = crm.patients.register(sclinic.id, family_name="林", given_name="一", phone="0912-111-222")
    assert patient.id is not None
    booked = crm.visits.book(patient.id, starts_at=T0, kind="checkup")
    assert booked.id is not None
    with pytest.raises(Conflict):
        crm.surveys.invite(survey.id, visit_id=booked.id, at=T0)
    crm.visits.check_in(booked.id, at=T0)
    with pytest.raises(Conflict):
        crm.surveys.invite(survey.id, visit_id=booked.id, at=T0)
    cancelled = crm.visits.book(patient.id, starts_at=T0, kind="checkup")
    assert cancelled.id is not None
    crm.visits.cancel(cancelled.id, at=T0)
    with pytest.raises(Conflict):
        crm.surveys.invite(survey.id, visit_id=cancelled.id, at=T0)

    other = crm.clinics.create("Other", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    foreign = completed_visit(clinic_id=other.id)
    assert foreign.id is not None
    with pytest.raises(ValidationError) as info:
        crm.surveys.invite(survey.id, visit_id=foreign.id, at=T0)
    assert info.value.field == "visit_id"
    assert count_rows(crm, "invitation") == 0 and count_rows(crm, "reminder") == 0


def test_bad_arguments(crm: ClinicCRM, survey: Survey, completed_visit: VisitFactory) -> None:
    visit = completed_visit()
    assert survey.id is not None and visit.id is not None
    with pytest.raises(NotFound):
        crm.surveys.invite(survey.id + 50, visit_id=visit.id, at=T0)
    with pytest.raises(NotFound):
        crm.surveys.invite(survey.id, visit_id=visit.id + 50, at=T0)
    with pytest.raises(NaiveDatetimeError):
        crm.surveys.invite(survey.id, visit_id=visit.id, at=datetime(2026, 3, 2, 10))
    for bad in (timedelta(0), timedelta(days=-1), timedelta(days=400), 14):
        with pytest.raises(ValidationError) as info:
            crm.surveys.invite(survey.id, visit_id=visit.id, at=T0, expires_in=bad)  # type: ignore[arg-type]
        assert info.value.field == "expires_in"
    with pytest.raises(ValidationError) as info:
        crm.surveys.invite(survey.id, visit_id=visit.id, at=T0, channel="fax")
    assert info.value.field == "channel"
    assert count_rows(crm, "invitation") == 0 and count_rows(crm, "reminder") == 0


def test_inviting_a_visit_again_makes_a_new_invitation(
    crm: ClinicCRM, survey: Survey, completed_visit: VisitFactory
) -> None:
    visit = completed_visit()
    assert survey.id is not None and visit.id is not None
    first = crm.surveys.invite(survey.id, visit_id=visit.id, at=T0)
    second = crm.surveys.invite(survey.id, visit_id=visit.id, at=T0 + timedelta(days=20))  # staff re-sends
    assert second.token != first.token and second.id != first.id
    crm.surveys.submit(second.token, {"recommend": 9, "overall": 5}, at=T0 + timedelta(days=20, hours=1))
    with pytest.raises(TokenExpired):
        crm.surveys.submit(first.token, {"recommend": 9, "overall": 5}, at=T0 + timedelta(days=20, hours=1))
    assert count_rows(crm, "invitation") == 2 and count_rows(crm, "reminder") == 2
    # the nightly job never invites a visit that already has an invitation to the survey
    assert (
        crm.surveys.invite_completed(survey.id, since=T0 - timedelta(days=30), until=T0 + timedelta(days=30), at=T0)
        == 0
    )


def test_invite_completed_invites_each_completed_visit_of_the_period_once(
    crm: ClinicCRM, survey: Survey, sclinic: Clinic, completed_visit: VisitFactory
) -> None:
    assert survey.id is not None and sclinic.id is not None
    day = T0.replace(hour=0)
    inside = [completed_visit(day + timedelta(hours=h)) for h in (0, 5, 23)]
    completed_visit(day + timedelta(days=1))  # at `until`: excluded
    completed_visit(day - timedelta(seconds=1))  # before `since`
    already = completed_visit(day + timedelta(hours=8))
    assert already.id is not None
    crm.surveys.invite(survey.id, visit_id=already.id, at=day + timedelta(hours=9))
    patient = crm.patients.register(sclinic.id, family_name="張", given_name="三", phone="0912-333-444")
    assert patient.id is not None
    booked = crm.visits.book(patient.id, starts_at=day + timedelta(hours=3), kind="checkup")  # not completed
    other = crm.clinics.create("Other", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    completed_visit(day + timedelta(hours=2), clinic_id=other.id)  # other clinic

    at = day + timedelta(days=1, hours=2)
    count = crm.surveys.invite_completed(survey.id, since=day, until=day + timedelta(days=1), at=at)
    assert count == 3
    with crm.engine.connect() as conn:
        visit_ids = {r[0] for r in conn.exec_driver_sql("SELECT visit_id FROM invitation").all()}
        plan_keys = {r[0] for r in conn.exec_driver_sql("SELECT plan_key FROM reminder").all()}
        inv_ids = {r[0] for r in conn.exec_driver_sql("SELECT id FROM invitation").all()}
    assert visit_ids == {v.id for v in inside} | {already.id}
    assert booked.id not in visit_ids
    assert plan_keys == {f"survey:{i}" for i in inv_ids}
    with Session(crm.engine) as session:
        batch = list(session.scalars(select(Invitation).where(col(Invitation.sent_at) == at)))
        assert len(batch) == 3
        for inv in batch:
            assert inv.expires_at == at + timedelta(days=14) and inv.channel == "sms"
            reminder = session.get(Reminder, inv.reminder_id)
            assert reminder is not None
            visit = session.get(Visit, inv.visit_id)
            assert visit is not None and visit.completed_at is not None
            assert reminder.plan_key == f"survey:{inv.id}" and reminder.visit_id == inv.visit_id
            assert reminder.patient_id == visit.patient_id
            assert (reminder.kind, reminder.purpose, reminder.status) == ("survey", "care", "pending")
            assert reminder.due_at == max(visit.completed_at + timedelta(minutes=180), at)
            assert reminder.expires_at == inv.expires_at
            assert reminder.payload == {"url": f"https://survey.example/s/{inv.token}", "survey_name": survey.name}
    # nightly job run twice: nobody is invited twice
    assert crm.surveys.invite_completed(survey.id, since=day, until=day + timedelta(days=1), at=at) == 0
    assert count_rows(crm, "invitation") == 4 and count_rows(crm, "reminder") == 4


def test_invite_completed_checks_its_arguments(crm: ClinicCRM, survey: Survey) -> None:
    assert survey.id is not None
    with pytest.raises(ValidationError):
        crm.surveys.invite_completed(survey.id, since=T0, until=T0, at=T0)
    with pytest.raises(NaiveDatetimeError):
        crm.surveys.invite_completed(survey.id, since=datetime(2026, 1, 1), until=T0, at=T0)
    with pytest.raises(NotFound):
        crm.surveys.invite_completed(survey.id + 9, since=T0 - timedelta(days=1), until=T0, at=T0)
    assert crm.surveys.invite_completed(survey.id, since=T0 - timedelta(days=1), until=T0, at=T0) == 0
