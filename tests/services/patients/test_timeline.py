"""A patient's timeline: visits, messages with outcomes, consent changes and survey answers (both databases)."""

from __future__ import annotations

from datetime import timedelta

from clinic_crm import ClinicCRM, Question
from clinic_crm.models import Clinic
from clinic_crm.testing import RecordingSender
from tests.conftest import T0


def test_timeline_tells_the_whole_story_in_order(crm: ClinicCRM, clinic: Clinic) -> None:
    patient = crm.patients.register(clinic.id, family_name="Lin", given_name="Mei", phone="0912-345-678")
    visit = crm.visits.book(patient.id, starts_at=T0 + timedelta(days=1), kind="checkup", now=T0)
    crm.patients.grant_consent(patient.id, "sms", "marketing", source="front desk", at=T0 + timedelta(hours=1))
    reminder = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0 + timedelta(hours=2))
    crm.reminders.dispatch(RecordingSender(), now=T0 + timedelta(hours=3))
    crm.visits.check_in(visit.id, at=T0 + timedelta(days=1))
    crm.visits.complete(visit.id, at=T0 + timedelta(days=1, hours=1))
    survey = crm.surveys.create(clinic.id, name="after", questions=[Question("q1", "nps", "How likely…")])
    invitation = crm.surveys.invite(survey.id, visit_id=visit.id, at=T0 + timedelta(days=1, hours=2))
    crm.surveys.submit(invitation.token, {"q1": 9}, at=T0 + timedelta(days=1, hours=3))

    items = crm.patients.timeline(patient.id)
    story = [(item.kind, item.event) for item in items]
    assert ("consent", "granted") in story
    assert ("message", "sent") in story
    assert story.index(("visit", "checked_in")) < story.index(("visit", "completed"))
    assert story[-1] == ("survey_response", "answered")
    assert [item.at for item in items] == sorted(item.at for item in items)
    sent = next(item for item in items if item.kind == "message" and item.ref == reminder.id)
    assert sent.detail["reminder_kind"] == "recall" and sent.at == T0 + timedelta(hours=3)
    text = repr(items)
    assert "Lin" not in text and "0912" not in text and "+886" not in text


def test_reading_the_timeline_is_audited(crm: ClinicCRM, clinic: Clinic) -> None:
    patient = crm.patients.register(clinic.id, family_name="Lin", given_name="Mei", phone="0912-345-678")
    before = len(crm.audit.for_patient(patient.id))
    crm.patients.timeline(patient.id)
    events = crm.audit.for_patient(patient.id)
    assert len(events) == before + 1
    assert events[-1].action == "read" and events[-1].details == {"what": "timeline"}
    assert crm.audit.verify() is True
