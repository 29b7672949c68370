"""The audit trail: one event per patient read or changed, no patient data in it, tampering found."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from clinic_crm import AuditEvent, ClinicCRM, ValidationError
from clinic_crm.models import Clinic
from tests.conftest import T0, count_rows
from tests.services.patient_rights.conftest import PatientFactory


def _actions(crm: ClinicCRM, patient_id: int) -> list[str]:
    return [event.action for event in crm.audit.for_patient(patient_id)]


def test_register_get_update_consent_are_recorded_in_order(crm: ClinicCRM, make_patient: PatientFactory) -> None:
    patient = make_patient()
    assert patient.id is not None
    crm.patients.get(patient.id)
    crm.patients.update(patient.id, email="ming@example.com")
    crm.patients.grant_consent(patient.id, "email", "marketing", source="front desk", at=T0)
    events = crm.audit.for_patient(patient.id)
    assert [e.action for e in events] == ["create", "read", "update", "consent"]
    assert all(isinstance(e, AuditEvent) and e.patient_id == patient.id for e in events)
    assert events[2].details == {"fields": ["email"]}
    assert events[3].details == {"channel": "email", "granted": True, "purpose": "marketing"}
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert all(e.at.utcoffset() == timedelta(0) for e in events)
    assert crm.audit.verify() is True


def test_actor_is_recorded(crm: ClinicCRM, rclinic: Clinic) -> None:
    assert rclinic.id is not None
    patient = crm.as_actor("nurse.chen").patients.register(rclinic.id, family_name="林", given_name="美玲")
    assert patient.id is not None
    crm.as_actor("dr.lin").patients.get(patient.id)
    crm.patients.get(patient.id)
    assert [e.actor for e in crm.audit.for_patient(patient.id)] == ["nurse.chen", "dr.lin", "system"]


def test_actor_of_a_facade(db_url: str, make_patient: PatientFactory) -> None:
    patient = make_patient()
    assert patient.id is not None
    with ClinicCRM(db_url, actor="front desk") as other:
        other.patients.get(patient.id)
        assert other.audit.for_patient(patient.id)[-1].actor == "front desk"


def test_find_writes_one_read_per_patient_returned(
    crm: ClinicCRM, rclinic: Clinic, make_patient: PatientFactory
) -> None:
    assert rclinic.id is not None
    family = [make_patient(phone="0912-000-111", given_name=f"小{n}") for n in range(5)]
    make_patient(phone="0912-999-999")
    before = count_rows(crm, "audit_event")
    found = crm.patients.find(rclinic.id, phone="0912000111")
    assert [p.id for p in found] == [p.id for p in family]
    assert count_rows(crm, "audit_event") == before + 5
    assert all(_actions(crm, p.id)[-1] == "read" for p in family if p.id is not None)
    assert crm.patients.find(rclinic.id, phone="0933000000") == []
    assert count_rows(crm, "audit_event") == before + 5


def test_import_records_create_update_and_a_summary(crm: ClinicCRM, rclinic: Clinic) -> None:
    assert rclinic.id is not None
    rows = [
        {"external_id": "A1", "family_name": "王", "given_name": "小明"},
        {"external_id": "A2", "family_name": "林", "given_name": "美玲"},
        {"family_name": "陳"},  # rejected: no given name
    ]
    report = crm.patients.import_rows(rclinic.id, rows)
    assert report.created == 2
    report = crm.patients.import_rows(rclinic.id, [{"external_id": "A1", "email": "a1@example.com"}])
    assert report.updated == 1
    (a1,) = crm.patients.find(rclinic.id, external_id="A1")
    (a2,) = crm.patients.find(rclinic.id, external_id="A2")
    assert a1.id is not None and a2.id is not None
    assert _actions(crm, a1.id)[:2] == ["create", "update"]
    assert _actions(crm, a2.id)[0] == "create"
    assert crm.audit.for_patient(a1.id)[0].details == {"via": "import"}
    with crm.engine.connect() as conn:
        summaries = conn.execute(
            text("SELECT detail FROM audit_event WHERE action = 'import' AND patient_id IS NULL ORDER BY id")
        ).all()
    assert [json.loads(row[0]) for row in summaries] == [
        {"clinic_id": rclinic.id, "created": 2, "updated": 0, "rejected": 1},
        {"clinic_id": rclinic.id, "created": 0, "updated": 1, "rejected": 0},
    ]
    assert crm.audit.verify() is True


def test_no_patient_data_in_events(crm: ClinicCRM, make_patient: PatientFactory) -> None:
    patient = make_patient(family_name="Wang", given_name="Ming", email="ming.wang@example.com", phone="0912-345-678")
    assert patient.id is not None
    crm.patients.update(patient.id, phone="0988-777-666", family_name="Wong")
    crm.patients.get(patient.id)
    crm.patients.export(patient.id)
    with crm.engine.connect() as conn:
        dumped = " ".join(str(v) for row in conn.execute(text("SELECT * FROM audit_event")) for v in row)
    for secret in ("Wang", "Wong", "Ming", "ming.wang", "912345678", "988777666"):
        assert secret not in dumped


def test_verify_finds_an_edited_row(crm: ClinicCRM, make_patient: PatientFactory) -> None:
    patient = make_patient()
    assert patient.id is not None
    crm.patients.get(patient.id)
    crm.patients.get(patient.id)
    assert crm.audit.verify() is True
    with crm.engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET actor = 'someone else' WHERE id = 2"))
    assert crm.audit.verify() is False


@pytest.mark.parametrize("which", ["first", "middle", "last"])
def test_verify_finds_a_deleted_row(crm: ClinicCRM, make_patient: PatientFactory, which: str) -> None:
    patient = make_patient()
    assert patient.id is not None
    for _ in range(3):
        crm.patients.get(patient.id)
    ids = [e.id for e in crm.audit.for_patient(patient.id)]
    victim = {"first": ids[0], "middle": ids[1], "last": ids[-1]}[which]
    with crm.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": victim})
    assert crm.audit.verify() is False


def test_verify_finds_a_rewritten_hash(crm: ClinicCRM, make_patient: PatientFactory) -> None:
    patient = make_patient()
    assert patient.id is not None
    crm.patients.get(patient.id)
    with crm.engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET action = 'update', hash = :h WHERE id = 1"), {"h": "0" * 64})
    assert crm.audit.verify() is False


def test_verify_on_an_empty_trail(crm: ClinicCRM) -> None:
    assert crm.audit.verify() is True


def test_failed_call_writes_no_event(crm: ClinicCRM, make_patient: PatientFactory) -> None:
    patient = make_patient()
    assert patient.id is not None
    before = count_rows(crm, "audit_event")
    with pytest.raises(ValidationError):
        crm.patients.update(patient.id, phone="not a phone")
    assert count_rows(crm, "audit_event") == before
    assert crm.audit.verify() is True


def test_a_transaction_that_rolls_back_leaves_the_chain_intact(crm: ClinicCRM, make_patient: PatientFactory) -> None:
    patient = make_patient()
    assert patient.id is not None
    with pytest.raises(RuntimeError), crm.transaction() as tx:
        tx.patients.get(patient.id)
        raise RuntimeError("host failure")
    crm.patients.get(patient.id)
    assert _actions(crm, patient.id) == ["create", "read"]
    assert crm.audit.verify() is True


def test_for_patient_rejects_a_non_integer(crm: ClinicCRM) -> None:
    with pytest.raises(ValidationError) as info:
        crm.audit.for_patient("1")  # type: ignore[arg-type]
    assert info.value.field == "patient_id"


def test_a_large_import_is_chained_set_based(crm: ClinicCRM, rclinic: Clinic) -> None:
    """Hundreds of events in one call (a COPY on PostgreSQL) chain like single ones."""
    assert rclinic.id is not None
    rows = [{"external_id": f"X{n}", "family_name": "林", "given_name": f"美{n}"} for n in range(450)]
    crm.patients.import_rows(rclinic.id, rows)
    crm.patients.import_rows(rclinic.id, rows[:250])
    assert count_rows(crm, "audit_event") == 450 + 1 + 250 + 1
    assert crm.audit.verify() is True
    (first,) = crm.patients.find(rclinic.id, external_id="X0")
    assert first.id is not None
    assert _actions(crm, first.id) == ["create", "update", "read"]
