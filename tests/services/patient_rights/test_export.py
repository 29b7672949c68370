"""``crm.patients.export`` (JSON) and ``crm.patients.fhir`` (R5 and R4B bundles validated by fhir.resources)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fhir.resources.bundle import Bundle
from fhir.resources.R4B.bundle import Bundle as BundleR4B

from clinic_crm import ClinicCRM, NotFound, ValidationError
from clinic_crm.models import Clinic, Survey
from clinic_crm.testing import RecordingSender
from tests.conftest import T0
from tests.services.patient_rights.conftest import AnswerFactory, PatientFactory, VisitFactory


@pytest.fixture
def rich(
    crm: ClinicCRM,
    make_patient: PatientFactory,
    answered: AnswerFactory,
    completed_visit: VisitFactory,
    survey: Survey,
) -> dict[str, Any]:
    """A patient with every kind of record: visits in every status, consent, reminders in several states, a response."""
    patient = make_patient(email="ming@example.com", birth_date="1980-01-02", external_id="HIS-1")
    pid = patient.id
    assert pid is not None
    response = answered(pid, score=10)
    booked = crm.visits.book(pid, starts_at=T0 + timedelta(days=3), kind="checkup", practitioner="Dr. Lin")
    checked = crm.visits.book(pid, starts_at=T0 + timedelta(hours=1), kind="cleaning")
    cancelled = crm.visits.book(pid, starts_at=T0 + timedelta(days=4), kind="checkup")
    missed = crm.visits.book(pid, starts_at=T0 - timedelta(days=4), kind="checkup")
    assert checked.id and cancelled.id and missed.id and booked.id
    crm.visits.check_in(checked.id, at=T0 + timedelta(minutes=50))
    crm.visits.cancel(cancelled.id, at=T0, reason="moved abroad")
    crm.visits.mark_no_show(missed.id, at=T0 - timedelta(days=4) + timedelta(hours=1))
    crm.patients.grant_consent(pid, "sms", "marketing", source="front desk", at=T0 - timedelta(days=1))
    crm.patients.withdraw_consent(pid, "sms", "marketing", source="sms reply", at=T0)
    crm.patients.grant_consent(pid, "email", "marketing", source="web form", at=T0)
    sent = crm.reminders.schedule(pid, kind="new_year", purpose="marketing", due_at=T0, channel="email")
    pending = crm.reminders.schedule(pid, kind="appointment", purpose="care", due_at=T0 + timedelta(days=2),
                                     visit_id=booked.id)  # fmt: skip
    crm.reminders.dispatch(RecordingSender(), now=T0 + timedelta(minutes=1))
    return {"patient": patient, "response": response, "sent": sent, "pending": pending, "visits": 5}


def test_export_is_json_and_complete(crm: ClinicCRM, rich: dict[str, Any]) -> None:
    pid = rich["patient"].id
    data = crm.patients.export(pid)
    text = json.dumps(data)
    assert data["patient"]["family_name"] == "王" and data["patient"]["birth_date"] == "1980-01-02"
    assert data["patient"]["email"] == "ming@example.com"
    assert len(data["visits"]) == rich["visits"]
    assert [(c["channel"], c["purpose"], c["granted"]) for c in data["consent"]] == [
        ("sms", "marketing", True),
        ("sms", "marketing", False),
        ("email", "marketing", True),
    ]
    reminders = {r["id"]: r for r in data["reminders"]}
    assert reminders[rich["sent"].id]["status"] == "sent"
    assert reminders[rich["pending"].id]["status"] == "pending"
    assert {"kind", "purpose", "channel", "status", "due_at", "sent_at"} <= set(reminders[rich["sent"].id])
    assert not {"payload", "idempotency_key", "claim_token"} & set(reminders[rich["sent"].id])
    (response,) = data["survey_responses"]
    assert response["answers"]["recommend"] == 10 and response["survey_name"] == "After your visit"
    assert data["cases"] == [] and data["registrations"] == []
    assert [e["action"] for e in data["audit"]][0] == "create"
    assert data["audit"][-1]["action"] == "export"
    assert data["visits"][0]["starts_at"].endswith("+00:00")
    # the survey link's token never leaves in the export
    with crm.engine.connect() as conn:
        from sqlalchemy import text as sql

        tokens = [row[0] for row in conn.execute(sql("SELECT token FROM invitation"))]
    assert tokens and not any(token in text for token in tokens)


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


@pytest.mark.parametrize("version", ["R5", "R4B"])
def test_fhir_bundle_validates_and_maps_codes(crm: ClinicCRM, rich: dict[str, Any], version: str) -> None:
    pid = rich["patient"].id
    bundle = crm.patients.fhir(pid, version=version)
    json.dumps(bundle)
    model = Bundle if version == "R5" else BundleR4B
    parsed = model.model_validate(bundle)
    assert parsed.type == "collection"
    (patient,) = _resources(bundle, "Patient")
    assert patient["birthDate"] == "1980-01-02" and patient["name"][0]["family"] == "王"
    assert {t["system"] for t in patient["telecom"]} == {"sms", "email"}
    statuses = sorted(a["status"] for a in _resources(bundle, "Appointment"))
    assert statuses == ["booked", "cancelled", "checked-in", "fulfilled", "noshow"]
    consents = _resources(bundle, "Consent")
    assert len(consents) == 3
    if version == "R5":
        decisions = [(c["status"], c["decision"]) for c in consents]
        assert all("provision" in c and "purpose" in c["provision"][0] for c in consents)
    else:
        decisions = [(c["status"], c["provision"]["type"]) for c in consents]
        assert all(c["scope"]["coding"][0]["code"] == "patient-privacy" for c in consents)
    assert decisions == [("inactive", "permit"), ("active", "deny"), ("active", "permit")]
    provisions = [c["provision"][0] if version == "R5" else c["provision"] for c in consents]
    assert {p["purpose"][0]["code"] for p in provisions} == {"HMARKT"}
    assert [p["code"][0]["coding"][0]["code"] for p in provisions] == ["sms", "sms", "email"]
    requests = {r["id"]: r for r in _resources(bundle, "CommunicationRequest")}
    assert requests[f"communicationrequest-{rich['sent'].id}"]["status"] == "completed"
    assert requests[f"communicationrequest-{rich['sent'].id}"]["medium"][0]["coding"][0]["code"] == "EMAILWRIT"
    assert requests[f"communicationrequest-{rich['pending'].id}"]["status"] == "active"
    assert requests[f"communicationrequest-{rich['pending'].id}"]["about"][0]["reference"].startswith("Appointment/")
    assert all(("intent" in r) is (version == "R5") for r in requests.values())
    (answer,) = _resources(bundle, "QuestionnaireResponse")
    assert answer["status"] == "completed"
    assert {i["linkId"]: i["answer"][0] for i in answer["item"]}["recommend"] == {"valueInteger": 10}
    assert answer["subject"] == {"reference": f"Patient/patient-{pid}"}
    assert crm.audit.for_patient(pid)[-1].details == {"format": "fhir", "version": version}


def test_revoked_requests_say_why(crm: ClinicCRM, make_patient: PatientFactory) -> None:
    patient = make_patient()
    assert patient.id is not None
    reminder = crm.reminders.schedule(patient.id, kind="promo", purpose="marketing", due_at=T0)
    crm.reminders.dispatch(RecordingSender(), now=T0)  # no marketing consent: suppressed
    bundle = crm.patients.fhir(patient.id)
    (request,) = _resources(bundle, "CommunicationRequest")
    assert request["id"] == f"communicationrequest-{reminder.id}"
    assert (request["status"], request["statusReason"]["text"]) == ("revoked", "suppressed: no_consent")


def test_erased_patient_bundle(crm: ClinicCRM, make_patient: PatientFactory) -> None:
    patient = make_patient()
    assert patient.id is not None
    crm.patients.erase(patient.id, at=T0, by="Dr. Lin", reason="patient request")
    for version in ("R5", "R4B"):
        bundle = crm.patients.fhir(patient.id, version=version)
        (resource,) = _resources(bundle, "Patient")
        assert resource["active"] is False and "telecom" not in resource and "birthDate" not in resource


def test_refusals(crm: ClinicCRM, make_patient: PatientFactory) -> None:
    patient = make_patient()
    assert patient.id is not None
    with pytest.raises(ValidationError) as info:
        crm.patients.fhir(patient.id, version="STU3")
    assert info.value.field == "version"
    with pytest.raises(NotFound):
        crm.patients.export(9999)
    with pytest.raises(NotFound):
        crm.patients.fhir(9999)


def test_missing_fhir_package_gives_an_install_hint(
    crm: ClinicCRM, make_patient: PatientFactory, monkeypatch: pytest.MonkeyPatch, rclinic: Clinic
) -> None:
    import builtins

    patient = make_patient()
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("fhir"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"clinic-crm\[fhir\]"):
        crm.patients.fhir(patient.id)  # type: ignore[arg-type]
