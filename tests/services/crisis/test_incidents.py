"""``crm.incidents``: declare, the timeline, the clocks, ``overdue``, close, list/get; pauses owned by incidents."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from clinic_crm import ClinicCRM, Conflict, InvalidTransition, NaiveDatetimeError, NotFound, ValidationError
from clinic_crm.models import Clinic
from clinic_crm.testing import RecordingPublisher, RecordingSender
from tests.conftest import T0, count_rows
from tests.services.crisis.conftest import IncidentFactory, StatementFactory

H = timedelta(hours=1)
NOON = T0 - 5 * H  # 12:00 in Taipei (T0 is 17:00 local): outside quiet hours


def test_declare_opens_the_incident_with_its_clock(crm: ClinicCRM, declare: IncidentFactory) -> None:
    incident = declare(severity="critical")
    assert isinstance(incident.id, int)
    assert (incident.status, incident.severity, incident.drill, incident.crisis_type) == (
        "open",
        "critical",
        False,
        "data_breach",
    )
    assert incident.declared_at == T0
    assert incident.first_statement_due_at == T0 + 2 * H
    assert incident.first_statement_at is None and incident.next_update_due_at is None and incident.closed_at is None
    assert crm.incidents.get(incident.id).title == "Leaked appointment list"
    entries = crm.incidents.timeline(incident.id)
    assert [(e.kind, e.by, e.at) for e in entries] == [("declared", "Dr. Chen", T0), ("paused", "Dr. Chen", T0)]
    pauses = crm.reminders.pauses(incident.clinic_id)
    assert [(p.purpose, p.incident_id, p.resumed_at) for p in pauses] == [("marketing", incident.id, None)]


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"title": " "}, "title"),
        ({"crisis_type": "meteor"}, "crisis_type"),
        ({"severity": "huge"}, "severity"),
        ({"drill": "yes"}, "drill"),
        ({"pause": ["newsletters"]}, "pause"),
        ({"by": ""}, "by"),
        ({"risk_ids": [10_000]}, "risk_ids"),
        ({"risk_ids": ["1"]}, "risk_ids"),
        ({"case_id": "7"}, "case_id"),
        ({"alert_id": 1.5}, "alert_id"),
    ],
)
def test_declare_validates_and_writes_nothing(
    crm: ClinicCRM, declare: IncidentFactory, override: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as err:
        declare(**override)
    assert err.value.field == field
    assert count_rows(crm, "incident") == 0
    assert count_rows(crm, "clinic_pause") == 0
    assert count_rows(crm, "incident_timeline") == 0


def test_declare_rejects_naive_time_and_unknown_clinic(crm: ClinicCRM, declare: IncidentFactory) -> None:
    with pytest.raises(NaiveDatetimeError):
        declare(at=datetime(2026, 3, 2, 9))
    with pytest.raises(NotFound):
        crm.incidents.declare(9999, title="x", crisis_type="other", at=T0, by="x")


def test_a_risk_of_another_clinic_cannot_be_linked(crm: ClinicCRM, declare: IncidentFactory) -> None:
    other = crm.clinics.create("Other", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    risk = crm.risks.add(other.id or 0, title="x", category="care", severity=1, occurrence=1, detection=1, at=T0)
    with pytest.raises(ValidationError) as err:
        declare(risk_ids=[risk.id])
    assert err.value.field == "risk_ids"


def test_drill_pauses_nothing(crm: ClinicCRM, declare: IncidentFactory) -> None:
    drill = declare(drill=True, pause=("marketing", "care"))
    assert drill.drill
    assert crm.reminders.pauses(drill.clinic_id) == []
    assert [e.kind for e in crm.incidents.timeline(drill.id or 0)] == ["declared"]


def test_log_and_timeline_order(crm: ClinicCRM, declare: IncidentFactory) -> None:
    incident = declare(pause=())
    iid = incident.id or 0
    crm.incidents.log(iid, at=T0 + 2 * H, by="Amy", text="press called")
    crm.incidents.log(iid, at=T0 + H, by="Dr. Chen", text="server isolated")
    crm.incidents.log(iid, at=T0 + H, by="Dr. Chen", text="passwords reset")
    entries = crm.incidents.timeline(iid)
    assert [(e.kind, e.text) for e in entries[1:]] == [
        ("note", "server isolated"),
        ("note", "passwords reset"),
        ("note", "press called"),
    ]
    assert entries[0].kind == "declared"
    with pytest.raises(ValidationError) as err:
        crm.incidents.log(iid, at=T0, by="Amy", text="")
    assert err.value.field == "text"
    with pytest.raises(NotFound):
        crm.incidents.timeline(iid + 100)


def test_overdue_clocks(
    crm: ClinicCRM,
    declare: IncidentFactory,
    published: StatementFactory,
    publisher: RecordingPublisher,
) -> None:
    incident = declare()
    iid = incident.id or 0
    cid = incident.clinic_id
    drill = declare(drill=True)
    assert crm.incidents.overdue(now=T0 + 2 * H) == []  # exactly 2 h: still in time
    assert [i.id for i in crm.incidents.overdue(now=T0 + 2 * H + timedelta(seconds=1))] == [iid]
    assert [i.id for i in crm.incidents.overdue(clinic_id=cid, now=T0 + 3 * H)] == [iid]
    assert crm.incidents.overdue(clinic_id=cid + 1, now=T0 + 3 * H) == []
    published(iid, "staff", at=T0 + H)
    assert crm.incidents.get(iid).first_statement_at is None  # staff statements do not stop the clock
    assert [i.id for i in crm.incidents.overdue(now=T0 + 3 * H)] == [iid]
    public = published(iid, "public", at=T0 + 3 * H, publisher=publisher, channels=["website"])
    assert public.status == "published"
    after = crm.incidents.get(iid)
    assert after.first_statement_at == T0 + 3 * H
    assert after.next_update_due_at == T0 + 27 * H
    assert crm.incidents.overdue(now=T0 + 27 * H) == []
    assert [i.id for i in crm.incidents.overdue(now=T0 + 28 * H)] == [iid]
    published(iid, "media", at=T0 + 26 * H)
    after = crm.incidents.get(iid)
    assert after.first_statement_at == T0 + 3 * H and after.next_update_due_at == T0 + 50 * H
    crm.incidents.close(iid, at=T0 + 30 * H, by="Dr. Chen", summary="contained")
    assert crm.incidents.overdue(now=T0 + 100 * H) == []
    assert drill.id not in {i.id for i in crm.incidents.overdue(now=T0 + 100 * H)}


def test_close(crm: ClinicCRM, declare: IncidentFactory) -> None:
    cid = declare().clinic_id
    risk = crm.risks.add(
        cid, title="Laptop theft", category="information_security", severity=9, occurrence=2, detection=5, at=T0
    )
    other = crm.risks.add(cid, title="Flood", category="operations", severity=2, occurrence=2, detection=2, at=T0)
    incident = declare(risk_ids=[risk.id, risk.id])
    iid = incident.id or 0
    closed_at = T0 + 5 * H
    closed = crm.incidents.close(iid, at=closed_at, by="Dr. Chen", summary="Contained; 40 patients told.")
    assert (closed.status, closed.closed_at) == ("closed", closed_at)
    assert crm.risks.get(risk.id or 0).next_review_at == closed_at
    assert crm.risks.get(other.id or 0).next_review_at == T0.replace(year=2027)
    assert [r.id for r in crm.risks.list(cid, due_for_review=True, now=closed_at)] == [risk.id]
    assert crm.incidents.timeline(iid)[-1].kind == "closed"
    with pytest.raises(InvalidTransition):
        crm.incidents.close(iid, at=closed_at, by="Dr. Chen", summary="again")
    assert isinstance(InvalidTransition("x"), Conflict)
    assert [e.kind for e in crm.incidents.timeline(iid)].count("closed") == 1


def test_list_and_get(crm: ClinicCRM, declare: IncidentFactory, team_clinic: Clinic) -> None:
    first = declare()
    second = declare(at=T0 + H, drill=True)
    crm.incidents.close(first.id or 0, at=T0 + 2 * H, by="x", summary="done")
    cid = team_clinic.id or 0
    assert [i.id for i in crm.incidents.list(cid)] == [second.id, first.id]
    assert [i.id for i in crm.incidents.list(cid, status="open")] == [second.id]
    assert [i.id for i in crm.incidents.list(cid, status="closed")] == [first.id]
    with pytest.raises(ValidationError):
        crm.incidents.list(cid, status="pending")
    with pytest.raises(NotFound):
        crm.incidents.get(9999)


# --- pauses ----------------------------------------------------------------------------------------------------


def _marketing(crm: ClinicCRM, cid: int) -> int:
    patient = crm.patients.register(cid, family_name="王", given_name="小明", phone="0912-000-111")
    pid = patient.id or 0
    crm.patients.grant_consent(pid, "sms", "marketing", source="form", at=NOON - 3 * H)
    return crm.reminders.schedule(pid, kind="greeting", purpose="marketing", due_at=NOON - H).id or 0


def _sent(crm: ClinicCRM, reminder_id: int, at: datetime) -> bool:
    report = crm.reminders.dispatch(RecordingSender(), now=at)
    sent = crm.reminders.get(reminder_id).status == "sent"
    assert sent or report.held == 1  # not sent only because it is held
    return sent


def test_two_incidents_on_one_purpose(crm: ClinicCRM, declare: IncidentFactory) -> None:
    first = declare(at=NOON - H)
    second = declare(at=NOON - H)
    rid = _marketing(crm, first.clinic_id)
    assert not _sent(crm, rid, NOON)
    crm.incidents.close(first.id or 0, at=NOON, by="x", summary="done")
    assert not _sent(crm, rid, NOON + timedelta(minutes=10))  # the second incident still holds marketing
    crm.incidents.close(second.id or 0, at=NOON + 2 * H, by="x", summary="done")
    assert _sent(crm, rid, NOON + 2 * H)


def test_manual_pause_outlives_the_incident(crm: ClinicCRM, declare: IncidentFactory) -> None:
    incident = declare(at=NOON - H)
    cid = incident.clinic_id
    crm.reminders.pause(cid, purposes=["marketing"], reason="newsletter review", at=NOON - H)
    rid = _marketing(crm, cid)
    crm.incidents.close(incident.id or 0, at=NOON, by="x", summary="done")
    assert not _sent(crm, rid, NOON)
    assert [(p.incident_id is None, p.resumed_at is None) for p in crm.reminders.pauses(cid)] == [
        (True, True),
        (False, False),
    ]
    crm.reminders.resume(cid, at=NOON + H)
    assert _sent(crm, rid, NOON + H)


def test_manual_resume_does_not_lift_an_incident_pause(crm: ClinicCRM, declare: IncidentFactory) -> None:
    incident = declare(at=NOON - H)
    cid = incident.clinic_id
    crm.reminders.pause(cid, purposes=["marketing"], reason="manual", at=NOON - H)
    rid = _marketing(crm, cid)
    assert crm.reminders.resume(cid, at=NOON) == 0  # incident still holds marketing: nothing released
    assert not _sent(crm, rid, NOON)
    crm.incidents.close(incident.id or 0, at=NOON + H, by="x", summary="done")
    assert _sent(crm, rid, NOON + H)


def test_care_pause_is_lifted_at_close(crm: ClinicCRM, declare: IncidentFactory) -> None:
    incident = declare(at=NOON - H, pause=["care", "marketing"])
    cid = incident.clinic_id
    assert sorted(p.purpose for p in crm.reminders.pauses(cid)) == ["care", "marketing"]
    crm.incidents.close(incident.id or 0, at=NOON, by="x", summary="done")
    assert all(p.resumed_at == NOON for p in crm.reminders.pauses(cid))
    entries = crm.incidents.timeline(incident.id or 0)
    assert "care, marketing" in entries[-1].text


def test_declare_and_tell_staff_in_one_transaction(crm: ClinicCRM, team_clinic: Clinic) -> None:
    cid = team_clinic.id or 0
    with pytest.raises(RuntimeError), crm.transaction() as tx:
        incident = tx.incidents.declare(cid, title="t", crisis_type="other", at=T0, by="Dr. Chen")
        tx.incidents.draft(incident.id or 0, audience="staff", text="x", at=T0, by="Amy")
        raise RuntimeError("the script failed half-way")
    assert count_rows(crm, "incident") == 0 and count_rows(crm, "clinic_pause") == 0
    assert count_rows(crm, "statement") == 0 and count_rows(crm, "incident_timeline") == 0
    with crm.transaction() as tx:
        incident = tx.incidents.declare(cid, title="t", crisis_type="other", at=T0, by="Dr. Chen")
        statement = tx.incidents.draft(incident.id or 0, audience="staff", text="x", at=T0, by="Amy")
        tx.incidents.approve(statement.id or 0, role="lead", by="Dr. Chen", at=T0)
        tx.incidents.publish(statement.id or 0, at=T0)
    assert crm.incidents.statement(statement.id or 0).status == "published"
