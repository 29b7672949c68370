"""Patient rights and record quality: duplicates, merge, export (JSON, FHIR), erasure."""

from clinic_crm.services.patient_rights.duplicates import DuplicatePair, find_duplicates
from clinic_crm.services.patient_rights.erasure import erase_patient
from clinic_crm.services.patient_rights.export import export_patient, fhir_bundle
from clinic_crm.services.patient_rights.merge import merge_patients

__all__ = ["DuplicatePair", "find_duplicates", "merge_patients", "export_patient", "fhir_bundle", "erase_patient"]
