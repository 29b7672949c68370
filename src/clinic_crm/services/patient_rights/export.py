"""Everything about one patient: a JSON-serialisable export, and a FHIR ``Bundle`` (R5 or R4B).

Both read the same rows: the patient, the registry's tables (``registry.PATIENT_REFERENCES``),
the survey responses of the patient's visits, and the audit trail.  The FHIR codes are mapped here
(``APPOINTMENT_STATUS``, ``REQUEST_STATUS``, …) and the bundle is validated with ``fhir.resources``
(the optional ``[fhir]`` extra).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from types import ModuleType
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from clinic_crm.errors import ValidationError
from clinic_crm.models import Invitation, Patient, Response, Survey, Visit
from clinic_crm.services._common import get_or_404
from clinic_crm.services.audit import audit_for_patient, record_audit
from clinic_crm.services.patient_rights.merge import merged_records
from clinic_crm.services.patient_rights.registry import reference_tables
from clinic_crm.services.patients import current_patient

__all__ = [
    "export_patient",
    "fhir_bundle",
    "FHIR_VERSIONS",
    "APPOINTMENT_STATUS",
    "REQUEST_STATUS",
    "CONSENT_PURPOSE",
    "CHANNEL_MODE",
]

#: The FHIR versions ``fhir()`` writes.
FHIR_VERSIONS = ("R5", "R4B")

#: Visit status → ``Appointment.status`` (value set appointmentstatus, the same codes in R4B and R5).
APPOINTMENT_STATUS = {
    "booked": "booked",
    "checked_in": "checked-in",
    "completed": "fulfilled",
    "cancelled": "cancelled",
    "no_show": "noshow",
}

#: Reminder status → ``CommunicationRequest.status`` (request-status): what is still to be sent is active,
#: what was sent completed, what ended without being sent (failed, suppressed, cancelled) revoked.
REQUEST_STATUS = {
    "pending": "active",
    "sending": "active",
    "sent": "completed",
    "failed": "revoked",
    "suppressed": "revoked",
    "cancelled": "revoked",
}

_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
#: Consent purpose → ``Consent.provision.purpose`` (v3 ActReason): care messages are treatment, marketing is HMARKT.
CONSENT_PURPOSE = {"care": ("TREAT", "treatment"), "marketing": ("HMARKT", "healthcare marketing")}

_PARTICIPATION_MODE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode"
#: Channel → ``CommunicationRequest.medium`` (v3 ParticipationMode).
CHANNEL_MODE = {"sms": ("SMSWRIT", "SMS message"), "email": ("EMAILWRIT", "email")}

_CHANNEL_SYSTEM = "urn:clinic-crm:channel"
_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_FHIR_HINT = "pip install 'clinic-crm[fhir]'"


def _plain(value: Any) -> Any:
    """A JSON-serialisable value: datetimes and dates as ISO strings."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _patient_dict(patient: Patient, merged_records: list[int]) -> dict[str, Any]:
    return {
        "id": patient.id,
        "clinic_id": patient.clinic_id,
        "external_id": patient.external_id,
        "family_name": patient.family_name,
        "given_name": patient.given_name,
        "display_name": patient.display_name,
        "phone": patient.phone,
        "email": patient.email,
        "birth_date": _plain(patient.birth_date),
        "locale": patient.locale,
        "timezone": patient.timezone,
        "created_at": _plain(patient.created_at),
        "updated_at": _plain(patient.updated_at),
        "erased_at": _plain(patient.erased_at),
        "merged_records": merged_records,
    }


def _records(session: Session, patient_id: int) -> dict[str, list[dict[str, Any]]]:
    """The registry's rows of the patient, per section, oldest first (one query per table)."""
    sections: dict[str, list[dict[str, Any]]] = {"cases": [], "registrations": []}
    for ref, table in reference_tables():
        columns = [column for column in table.c if column.name not in ref.omit]
        rows = session.execute(select(*columns).where(table.c[ref.column] == patient_id).order_by(table.c.id))
        sections[ref.section] = [{key: _plain(value) for key, value in row._mapping.items()} for row in rows]
    return sections


def _responses(session: Session, patient_id: int) -> list[dict[str, Any]]:
    """The survey responses of the patient's visits with their answers, oldest first (one query)."""
    response = cast(Table, Response.__table__)  # type: ignore[attr-defined]
    invitation = cast(Table, Invitation.__table__)  # type: ignore[attr-defined]
    visit = cast(Table, Visit.__table__)  # type: ignore[attr-defined]
    survey = cast(Table, Survey.__table__)  # type: ignore[attr-defined]
    rows = session.execute(
        select(
            response.c.id,
            response.c.survey_id,
            survey.c.name.label("survey_name"),
            survey.c.version.label("survey_version"),
            response.c.visit_id,
            invitation.c.sent_at.label("invited_at"),
            response.c.answered_at,
            response.c.answers,
        )
        .join(invitation, invitation.c.id == response.c.invitation_id)
        .join(visit, visit.c.id == response.c.visit_id)
        .join(survey, survey.c.id == response.c.survey_id)
        .where(visit.c.patient_id == patient_id)
        .order_by(response.c.answered_at, response.c.id)
    )
    return [{key: _plain(value) for key, value in row._mapping.items()} for row in rows]


def export_patient(session: Session, patient_id: int) -> dict[str, Any]:
    """Everything stored about one patient, JSON-serialisable (datetimes as ISO strings, UTC).

    For a record merged into another, the patient it was merged into is exported.  The export is
    itself recorded in the audit trail (action ``"export"``) before the trail is read.

    Args:
        patient_id: the patient.

    Returns:
        ``{"patient", "consent", "visits", "care_plans", "reminders", "follow_ups", "survey_responses",
        "cases", "registrations", "audit"}`` — reminders without their payload (survey-link tokens)
        and dispatcher bookkeeping.

    Raises:
        NotFound: no such patient.
    """
    patient = current_patient(session, get_or_404(session, Patient, patient_id))
    pid = patient.id
    record_audit(session, [pid], "export", {"format": "json"})
    data: dict[str, Any] = {"format": "clinic_crm.patient_export", "version": 1}
    data["patient"] = _patient_dict(patient, merged_records(session, pid))
    data.update(_records(session, pid))
    data["survey_responses"] = _responses(session, pid)
    data["audit"] = [
        {
            "id": event.id,
            "at": _plain(event.at),
            "actor": event.actor,
            "action": event.action,
            "detail": event.details,
        }
        for event in audit_for_patient(session, pid)
    ]
    return data


# --- FHIR -----------------------------------------------------------------------------------------------------------


def require_fhir() -> ModuleType:
    """Import ``fhir.resources``, or raise ``ImportError`` telling how to install the extra."""
    try:
        import fhir.resources
    except ImportError as exc:
        raise ImportError(f"FHIR bundles need fhir.resources, an optional dependency: {_FHIR_HINT}") from exc
    return fhir.resources


def _reference(kind: str, ident: object) -> dict[str, str]:
    return {"reference": f"{kind}/{_id(kind, ident)}"}


def _id(kind: str, ident: object) -> str:
    return f"{kind.lower()}-{ident}"


def _fhir_patient(patient: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": _id("Patient", patient["id"]),
        "active": patient["erased_at"] is None,
        "name": [
            {
                "text": patient["display_name"],
                "family": patient["family_name"],
                "given": [patient["given_name"]] if patient["given_name"] else [],
            }
        ],
        "communication": [
            {
                "language": {
                    "coding": [{"system": "urn:ietf:bcp:47", "code": str(patient["locale"]).replace("_", "-")}]
                },
                "preferred": True,
            }
        ],
    }
    if not resource["name"][0]["given"]:
        del resource["name"][0]["given"]
    telecom = []
    if patient["phone"]:
        telecom.append({"system": "sms", "value": patient["phone"], "use": "mobile"})
    if patient["email"]:
        telecom.append({"system": "email", "value": patient["email"]})
    if telecom:
        resource["telecom"] = telecom
    if patient["birth_date"]:
        resource["birthDate"] = patient["birth_date"]
    if patient["external_id"]:
        resource["identifier"] = [
            {"system": f"urn:clinic-crm:clinic:{patient['clinic_id']}:external-id", "value": patient["external_id"]}
        ]
    return resource


def _fhir_appointment(visit: dict[str, Any], patient_ref: dict[str, str], version: str) -> dict[str, Any]:
    start = datetime.fromisoformat(visit["starts_at"])
    finished = visit["completed_at"] and datetime.fromisoformat(visit["completed_at"])
    end = finished if finished and finished > start else start + timedelta(minutes=1)
    participant: list[dict[str, Any]] = [{"actor": patient_ref, "status": "accepted"}]
    if visit["practitioner"]:
        participant.append({"actor": {"display": visit["practitioner"]}, "status": "accepted"})
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": _id("Appointment", visit["id"]),
        "status": APPOINTMENT_STATUS[visit["status"]],
        "appointmentType": {"text": visit["kind"]},
        "start": start.isoformat(),
        "end": end.isoformat(),
        "created": visit["created_at"],
        "participant": participant,
    }
    if visit["cancel_reason"]:
        # R5 spells it with two l's, R4B with one
        resource["cancellationReason" if version == "R5" else "cancelationReason"] = {"text": visit["cancel_reason"]}
    return resource


def _fhir_consent(event: dict[str, Any], patient_ref: dict[str, str], current: bool, version: str) -> dict[str, Any]:
    code, display = CONSENT_PURPOSE[event["purpose"]]
    purpose = [{"system": _ACT_REASON, "code": code, "display": display}]
    channel = [{"coding": [{"system": _CHANNEL_SYSTEM, "code": event["channel"]}], "text": event["channel"]}]
    category = [{"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}]
    decision = "permit" if event["granted"] else "deny"
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "id": _id("Consent", event["id"]),
        "status": "active" if current else "inactive",
        "category": category,
    }
    if version == "R5":
        resource.update(
            {
                "subject": patient_ref,
                "date": event["at"][:10],
                "period": {"start": event["at"]},
                "decision": decision,
                "provision": [{"purpose": purpose, "code": channel}],
            }
        )
    else:
        resource.update(
            {
                "scope": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                            "code": "patient-privacy",
                        }
                    ]
                },
                "patient": patient_ref,
                "dateTime": event["at"],
                "policyRule": {"coding": [{"system": _ACT_CODE, "code": "OPTIN" if event["granted"] else "OPTOUT"}]},
                "provision": {"type": decision, "period": {"start": event["at"]}, "purpose": purpose, "code": channel},
            }
        )
    return resource


def _fhir_request(reminder: dict[str, Any], patient_ref: dict[str, str], version: str) -> dict[str, Any]:
    status = reminder["status"]
    resource: dict[str, Any] = {
        "resourceType": "CommunicationRequest",
        "id": _id("CommunicationRequest", reminder["id"]),
        "status": REQUEST_STATUS[status],
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/communication-category", "code": "reminder"}
                ],
                "text": reminder["kind"],
            }
        ],
        "subject": patient_ref,
        "occurrenceDateTime": reminder["due_at"],
        "authoredOn": reminder["created_at"],
    }
    if version == "R5":
        resource["intent"] = "order"  # R5 requires it; R4B's CommunicationRequest has no intent
    if reminder["purpose"] == "marketing":
        code, display = CONSENT_PURPOSE["marketing"]
        resource["category"].append({"coding": [{"system": _ACT_REASON, "code": code}]})
    if REQUEST_STATUS[status] == "revoked" or status == "sending":
        reason = status if not reminder.get("suppressed_reason") else f"{status}: {reminder['suppressed_reason']}"
        resource["statusReason"] = {"text": reason}
    if reminder["channel"]:
        mode, display = CHANNEL_MODE[reminder["channel"]]
        resource["medium"] = [{"coding": [{"system": _PARTICIPATION_MODE, "code": mode, "display": display}]}]
    if reminder["visit_id"] is not None:
        resource["about"] = [_reference("Appointment", reminder["visit_id"])]
    return resource


def _answer(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    if isinstance(value, float):
        return {"valueDecimal": value}
    return {"valueString": str(value)}


def _fhir_response(response: dict[str, Any], patient_ref: dict[str, str]) -> dict[str, Any]:
    items = [
        {"linkId": str(key), "answer": [_answer(value)]}
        for key, value in sorted(response["answers"].items())
        if value is not None and value != ""
    ]
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": _id("QuestionnaireResponse", response["id"]),
        "questionnaire": f"urn:clinic-crm:survey:{response['survey_id']}",
        "status": "completed",
        "subject": patient_ref,
        "authored": response["answered_at"],
    }
    if items:
        resource["item"] = items
    return resource


def fhir_bundle(session: Session, patient_id: int, *, version: str = "R5") -> dict[str, Any]:
    """The patient's record as a FHIR ``Bundle`` of type ``collection``, validated with ``fhir.resources``.

    It holds the ``Patient``, an ``Appointment`` per visit, a ``Consent`` per consent event (the latest per
    channel × purpose ``active``, earlier ones ``inactive``), a ``CommunicationRequest`` per reminder and a
    ``QuestionnaireResponse`` per survey response.  Codes: see ``APPOINTMENT_STATUS``, ``REQUEST_STATUS``,
    ``CONSENT_PURPOSE``, ``CHANNEL_MODE``; R5 writes ``Consent.decision``, R4B ``Consent.provision.type``.

    Args:
        patient_id: the patient (a merged record gives the patient it was merged into).
        version: ``"R5"`` or ``"R4B"``.

    Returns:
        The bundle as plain JSON-serialisable dicts.

    Raises:
        NotFound: no such patient.
        ValidationError: unknown ``version``.
        ImportError: ``fhir.resources`` is not installed (``pip install 'clinic-crm[fhir]'``).
    """
    if version not in FHIR_VERSIONS:
        raise ValidationError(f"version must be one of {', '.join(FHIR_VERSIONS)}", field="version")
    require_fhir()
    patient = current_patient(session, get_or_404(session, Patient, patient_id))
    pid = patient.id
    record_audit(session, [pid], "export", {"format": "fhir", "version": version})
    records = _records(session, pid)
    patient_ref = _reference("Patient", pid)
    resources = [_fhir_patient(_patient_dict(patient, []))]
    resources += [_fhir_appointment(visit, patient_ref, version) for visit in records["visits"]]
    latest: dict[tuple[str, str], int] = {}
    for event in sorted(records["consent"], key=lambda e: (e["at"], e["id"])):
        latest[(event["channel"], event["purpose"])] = event["id"]
    current_ids = set(latest.values())
    resources += [
        _fhir_consent(event, patient_ref, event["id"] in current_ids, version) for event in records["consent"]
    ]
    resources += [_fhir_request(reminder, patient_ref, version) for reminder in records["reminders"]]
    resources += [_fhir_response(response, patient_ref) for response in _responses(session, pid)]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": resource} for resource in resources],
    }
    _validate(bundle, version)
    return bundle


def _validate(bundle: dict[str, Any], version: str) -> None:
    """Parse the bundle with ``fhir.resources`` (raises its ``ValidationError`` on a malformed resource)."""
    if version == "R5":
        from fhir.resources.bundle import Bundle

        Bundle.model_validate(bundle)
    else:
        from fhir.resources.R4B.bundle import Bundle as BundleR4B

        BundleR4B.model_validate(bundle)
