"""``crm.patients``: register, update and find patients; consent; imports; duplicates, merge, export, erasure."""

from __future__ import annotations

from clinic_crm.api._unit import ServiceGroup, service
from clinic_crm.services import consent
from clinic_crm.services import imports as imports_svc
from clinic_crm.services import patient_rights as rights
from clinic_crm.services import patients as svc
from clinic_crm.services.timeline import patient_timeline

__all__ = ["PatientsAPI"]


class PatientsAPI(ServiceGroup):
    """Register, update and find patients; record their consent; duplicates, merge, export and erasure."""

    register = service(svc.register_patient)
    get = service(svc.get_patient)
    update = service(svc.update_patient)
    find = service(svc.find_patients)
    grant_consent = service(consent.grant_consent)
    withdraw_consent = service(consent.withdraw_consent)
    consent_history = service(consent.consent_history)
    has_consent = service(consent.has_consent)
    import_rows = service(imports_svc.import_patients)
    import_csv = service(imports_svc.import_patients_csv)
    duplicates = service(rights.find_duplicates)
    merge = service(rights.merge_patients)
    export = service(rights.export_patient)
    fhir = service(rights.fhir_bundle)
    erase = service(rights.erase_patient)
    timeline = service(patient_timeline)
