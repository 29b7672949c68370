"""``crm.patients.erase``: identity pseudonymised, contact cleared, history and statistics kept, nothing sent."""

from __future__ import annotations

from datetime import timedelta

import pytest

from clinic_crm import ClinicCRM, Conflict, NotFound, ValidationError
from clinic_crm.models import Clinic
from clinic_crm.testing import RecordingSender
from tests.conftest import T0, count_rows
from tests.services.patient_rights.conftest import AnswerFactory, PatientFactory

LATER = T0 + timedelta(days=2)


def test_identity_goes_history_stays(
    crm: ClinicCRM, rclinic: Clinic, make_patient: PatientFactory, answered: AnswerFactory
) -> None:
    patient = make_patient(
        family_name="Wang", given_name="Ming", email="ming@example.com", birth_date="1980-01-02", external_id="HIS-1"
    )
    pid = patient.id
    assert pid is not None and rclinic.id is not None
    answered(pid, score=2)
    plan = crm.reminders.add_recall(pid, kind="dental_recall", every="6 months", after_visit_kind="checkup")
    crm.patients.grant_consent(pid, "sms", "marketing", source="front desk", at=T0)
    pending = crm.reminders.schedule(pid, kind="new_year", purpose="marketing", due_at=LATER)
    nps = crm.surveys.nps(clinic_id=rclinic.id)
    erased = crm.patients.erase(pid, at=T0 + timedelta(days=1), by="Dr. Lin", reason="patient request")
    assert erased.family_name == "Erased" and erased.given_name not in ("", "Ming")
    assert (erased.phone, erased.email, erased.birth_date, erased.external_id) == (None, None, None, None)
    assert erased.erased_at == T0 + timedelta(days=1)
    assert erased.erased_by == "Dr. Lin" and erased.erasure_reason == "patient request"
    assert pending.id is not None and crm.reminders.get(pending.id).status == "cancelled"
    data = crm.patients.export(pid)
    assert [p["active"] for p in data["care_plans"]] == [False] and data["care_plans"][0]["id"] == plan.id
    withdrawn = [(c["channel"], c["purpose"]) for c in data["consent"] if c["source"] == "erasure"]
    assert sorted(withdrawn) == [("email", "care"), ("email", "marketing"), ("sms", "care"), ("sms", "marketing")]
    for channel in ("sms", "email"):
        for purpose in ("care", "marketing"):
            assert crm.patients.has_consent(pid, channel, purpose, at=T0 + timedelta(days=2)) is False
    assert len(data["visits"]) == 1 and len(data["survey_responses"]) == 1
    assert crm.surveys.nps(clinic_id=rclinic.id) == nps
    assert crm.patients.find(rclinic.id, name="Wang") == []
    assert crm.patients.find(rclinic.id, external_id="HIS-1") == []
    (event,) = [e for e in crm.audit.for_patient(pid) if e.action == "erase"]
    assert event.details["by"] == "Dr. Lin"
    assert crm.audit.verify() is True


def test_nothing_is_ever_sent_to_an_erased_patient(
    crm: ClinicCRM, rclinic: Clinic, make_patient: PatientFactory
) -> None:
    patient = make_patient(email="ming@example.com", birth_date="1980-03-05")
    pid = patient.id
    assert pid is not None and rclinic.id is not None
    visit = crm.visits.book(pid, starts_at=LATER, kind="checkup")
    crm.patients.erase(pid, at=T0, by="Dr. Lin", reason="patient request")
    # plan skips erased patients (the booked visit would otherwise get its appointment reminder)
    assert crm.reminders.plan(now=T0, horizon=timedelta(days=7)) == 0
    # schedule refuses
    with pytest.raises(Conflict):
        crm.reminders.schedule(pid, kind="appointment", purpose="care", due_at=LATER, visit_id=visit.id)
    sender = RecordingSender()
    crm.reminders.dispatch(sender, now=LATER)
    assert sender.messages == []


def test_dispatch_suppresses_a_reminder_of_an_erased_patient(crm: ClinicCRM, make_patient: PatientFactory) -> None:
    patient = make_patient()
    assert patient.id is not None
    reminder = crm.reminders.schedule(patient.id, kind="appointment", purpose="care", due_at=T0)
    assert reminder.id is not None
    # a row that escaped the erasure (e.g. written by a host straight into the table) is still never sent
    crm.patients.erase(patient.id, at=T0, by="Dr. Lin", reason="patient request")
    with crm.engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("UPDATE reminder SET status = 'pending' WHERE id = :id"), {"id": reminder.id})
    sender = RecordingSender()
    report = crm.reminders.dispatch(sender, now=T0 + timedelta(minutes=1))
    assert sender.messages == [] and report.suppressed_by_reason == {"erased": 1}
    assert crm.reminders.get(reminder.id).suppressed_reason == "erased"


def test_records_merged_into_the_patient_are_erased_too(crm: ClinicCRM, make_patient: PatientFactory) -> None:
    a, b = make_patient(), make_patient(email="old@example.com")
    assert a.id is not None and b.id is not None
    crm.patients.merge(a.id, b.id, at=T0, by="Dr. Lin")
    with pytest.raises(Conflict):
        crm.patients.erase(b.id, at=T0, by="Dr. Lin", reason="patient request")  # erase the kept one
    crm.patients.erase(a.id, at=T0, by="Dr. Lin", reason="patient request")
    data = crm.patients.export(b.id)
    assert data["patient"]["id"] == a.id
    with crm.engine.connect() as conn:
        from sqlalchemy import text

        row = conn.execute(
            text("SELECT family_name, phone, email, erased_at FROM patient WHERE id = :id"), {"id": b.id}
        )
        family, phone, email, erased_at = row.one()
    assert (family, phone, email) == ("Erased", None, None) and erased_at is not None
    assert [e.action for e in crm.audit.for_patient(b.id)][-1] == "erase"


def test_refusals_change_nothing(crm: ClinicCRM, make_patient: PatientFactory) -> None:
    patient = make_patient()
    assert patient.id is not None
    crm.patients.erase(patient.id, at=T0, by="Dr. Lin", reason="patient request")
    other = make_patient()
    assert other.id is not None
    events = count_rows(crm, "audit_event")
    with pytest.raises(Conflict):
        crm.patients.erase(patient.id, at=T0, by="Dr. Lin", reason="again")
    with pytest.raises(ValidationError) as info:
        crm.patients.erase(other.id, at=T0, by="Dr. Lin", reason=" ")
    assert info.value.field == "reason"
    with pytest.raises(ValidationError):
        crm.patients.erase(other.id, at=T0.replace(tzinfo=None), by="Dr. Lin", reason="request")
    with pytest.raises(NotFound):
        crm.patients.erase(9999, at=T0, by="Dr. Lin", reason="request")
    assert count_rows(crm, "audit_event") == events
    assert crm.patients.get(other.id).erased_at is None


def test_registry_redactions_overwrite_free_text(
    crm: ClinicCRM,
    rclinic: Clinic,
    make_patient: PatientFactory,
    answered: AnswerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """How case texts are redacted once the integrator registers ``case`` (shown here on follow-up notes)."""
    from clinic_crm.services.patient_rights import registry

    patient = make_patient()
    assert patient.id is not None and rclinic.id is not None
    answered(patient.id, score=1)
    (follow_up,) = crm.surveys.follow_ups(rclinic.id)
    assert follow_up.id is not None
    crm.surveys.close_follow_up(follow_up.id, note="called back; wants a refund", at=T0 + timedelta(days=1))
    with_notes = tuple(
        registry.PatientReference(r.table, r.column, r.section, r.omit, ("note",) if r.table == "follow_up" else ())
        for r in registry.PATIENT_REFERENCES
    )
    monkeypatch.setattr(registry, "PATIENT_REFERENCES", with_notes)
    crm.patients.erase(patient.id, at=T0 + timedelta(days=2), by="Dr. Lin", reason="patient request")
    (note,) = [f["note"] for f in crm.patients.export(patient.id)["follow_ups"]]
    assert note == "[erased]"


def test_sms_reply_texts_go_with_the_patient_unless_the_number_is_shared(crm: ClinicCRM, clinic: Clinic) -> None:
    own = crm.patients.register(clinic.id, family_name="Lin", given_name="Mei", phone="0912-345-678")
    mother = crm.patients.register(clinic.id, family_name="Chen", given_name="Yu", phone="0922-333-444")
    crm.patients.register(clinic.id, family_name="Chen", given_name="Hao", phone="0922-333-444")  # family phone
    crm.reminders.handle_reply(clinic.id, phone="0912-345-678", text="my knee still hurts", at=T0)
    crm.reminders.handle_reply(clinic.id, phone="0922-333-444", text="can we move Tuesday?", at=T0)
    crm.patients.erase(own.id, at=T0 + timedelta(days=1), by="dpo", reason="patient request")
    crm.patients.erase(mother.id, at=T0 + timedelta(days=1), by="dpo", reason="patient request")
    texts = {reply.phone: reply.text for reply in crm.reminders.replies(clinic.id)}
    assert texts == {"+886912345678": "[erased]", "+886922333444": "can we move Tuesday?"}
