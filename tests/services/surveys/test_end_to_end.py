"""Invite → the reminder engine sends the link → the patient answers → staff follow up."""

from __future__ import annotations

from datetime import timedelta

from clinic_crm import ClinicCRM
from clinic_crm.models import Clinic, Survey
from clinic_crm.testing import RecordingSender
from tests.conftest import T0
from tests.services.surveys.conftest import VisitFactory


def test_invitation_is_dispatched_with_its_link_then_answered(
    crm: ClinicCRM, survey: Survey, sclinic: Clinic, completed_visit: VisitFactory
) -> None:
    assert survey.id is not None and sclinic.id is not None
    done = T0.replace(hour=3)  # 11:00 in Taipei: outside the quiet hours
    visit = completed_visit(done)
    assert visit.id is not None
    invitation = crm.surveys.invite(survey.id, visit_id=visit.id, at=done)
    assert invitation.reminder_id is not None
    sender = RecordingSender()

    early = crm.reminders.dispatch(sender, now=done + timedelta(minutes=179))
    assert early.sent == 0 and sender.for_reminder(invitation.reminder_id) == []

    report = crm.reminders.dispatch(sender, now=done + timedelta(minutes=180))
    assert report.sent == 1
    (message,) = sender.for_reminder(invitation.reminder_id)
    assert f"https://survey.example/s/{invitation.token}" in message.body
    assert message.channel == "sms" and message.locale == "zh_TW"
    assert crm.reminders.get(invitation.reminder_id).status == "sent"

    response = crm.surveys.submit(invitation.token, {"recommend": 5, "overall": 2}, at=done + timedelta(hours=5))
    assert crm.reminders.get(invitation.reminder_id).status == "sent"  # a sent reminder stays sent
    (item,) = crm.surveys.follow_ups(sclinic.id)
    assert item.response_id == response.id and item.patient_id == visit.patient_id


def test_answered_before_the_reminder_is_due_nothing_is_sent(
    crm: ClinicCRM, survey: Survey, completed_visit: VisitFactory
) -> None:
    assert survey.id is not None
    done = T0.replace(hour=3)
    visit = completed_visit(done)
    assert visit.id is not None
    invitation = crm.surveys.invite(survey.id, visit_id=visit.id, at=done)
    assert invitation.reminder_id is not None
    crm.surveys.submit(invitation.token, {"recommend": 10, "overall": 5}, at=done + timedelta(minutes=10))  # QR code
    sender = RecordingSender()
    report = crm.reminders.dispatch(sender, now=done + timedelta(hours=4))
    assert report.sent == 0 and sender.for_reminder(invitation.reminder_id) == []
    assert crm.reminders.get(invitation.reminder_id).status == "cancelled"


def test_an_expired_invitation_link_is_not_sent(crm: ClinicCRM, survey: Survey, completed_visit: VisitFactory) -> None:
    assert survey.id is not None
    done = T0.replace(hour=3)
    visit = completed_visit(done)
    assert visit.id is not None
    invitation = crm.surveys.invite(survey.id, visit_id=visit.id, at=done, expires_in=timedelta(hours=4))
    assert invitation.reminder_id is not None
    sender = RecordingSender()
    crm.reminders.dispatch(sender, now=done + timedelta(hours=5))  # the dispatcher was down for hours
    assert sender.for_reminder(invitation.reminder_id) == []
    assert crm.reminders.get(invitation.reminder_id).status != "sent"
