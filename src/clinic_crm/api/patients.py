"""``crm.patients``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from clinic_crm.api._unit import ServiceGroup, service
from clinic_crm.models import ConsentEvent, Patient
from clinic_crm.services import consent as consent_svc
from clinic_crm.services import imports as imports_svc
from clinic_crm.services import patient_rights as rights
from clinic_crm.services import patients as svc
from clinic_crm.services.imports import ImportReport, Progress
from clinic_crm.services.timeline import patient_timeline

__all__ = ["PatientsAPI"]


class PatientsAPI(ServiceGroup):
    """Register, update and find patients; record their consent; duplicates, merge, export and erasure."""

    def register(
        self,
        clinic_id: int,
        *,
        family_name: str,
        given_name: str,
        phone: str | None = None,
        email: str | None = None,
        birth_date: date | str | None = None,
        locale: str | None = None,
        timezone: str | None = None,
        external_id: str | None = None,
    ) -> Patient:
        """Register a patient; phone parsed with the clinic's region and stored as E.164.

        Raises:
            NotFound: no such clinic.
            ValidationError, InvalidPhoneNumber, InvalidEmail: malformed input (nothing stored).
            DuplicatePatient: ``external_id`` already used in this clinic.
        """
        return self._unit.run(
            svc.register_patient,
            clinic_id,
            family_name=family_name,
            given_name=given_name,
            phone=phone,
            email=email,
            birth_date=birth_date,
            locale=locale,
            timezone=timezone,
            external_id=external_id,
        )

    get = service(svc.get_patient)

    def update(self, patient_id: int, **fields: Any) -> Patient:
        """Change fields named as in ``register``; ``None`` clears an optional one.

        Raises:
            NotFound, ValidationError, InvalidPhoneNumber, InvalidEmail, DuplicatePatient
        """
        return self._unit.run(svc.update_patient, patient_id, **fields)

    def find(
        self,
        clinic_id: int,
        *,
        phone: str | None = None,
        email: str | None = None,
        external_id: str | None = None,
        name: str | None = None,
    ) -> list[Patient]:
        """Patients of the clinic matching every criterion given; ``phone`` in any local or international form."""
        return self._unit.run(
            svc.find_patients, clinic_id, phone=phone, email=email, external_id=external_id, name=name
        )

    def grant_consent(
        self, patient_id: int, channel: str, purpose: str, *, source: str, at: datetime | None = None
    ) -> ConsentEvent:
        """Record that the patient agreed to ``purpose`` messages (``care``/``marketing``) on ``channel``.

        Raises:
            NotFound, ValidationError, NaiveDatetimeError
        """
        return self._unit.run(
            consent_svc.record_consent, patient_id, channel, purpose, granted=True, source=source, at=at
        )

    def withdraw_consent(
        self, patient_id: int, channel: str, purpose: str, *, source: str, at: datetime | None = None
    ) -> ConsentEvent:
        """Record that the patient withdrew consent for ``purpose`` messages on ``channel``.

        Raises:
            NotFound, ValidationError, NaiveDatetimeError
        """
        return self._unit.run(
            consent_svc.record_consent, patient_id, channel, purpose, granted=False, source=source, at=at
        )

    def consent_history(self, patient_id: int) -> list[ConsentEvent]:
        """Every grant and withdrawal of the patient, oldest first."""
        return self._unit.run(consent_svc.consent_history, patient_id)

    def has_consent(self, patient_id: int, channel: str, purpose: str, *, at: datetime | None = None) -> bool:
        """Whether the patient may be contacted on ``channel`` for ``purpose`` at ``at`` (default now)."""
        from clinic_crm.values import utc

        return self._unit.run(consent_svc.has_consent, patient_id, channel, purpose, at=utc(at, "at"))

    def import_rows(
        self, clinic_id: int, rows: Iterable[Mapping[str, Any]], *, progress: Progress | None = None
    ) -> ImportReport:
        """Create or update patients from dicts keyed by ``register``'s keyword names, in one transaction.

        A row whose ``external_id`` names a patient of the clinic updates it (missing,
        ``None`` or blank values keep the stored ones); other rows register new
        patients.  Bad rows are reported, valid rows land.  See ``docs/patients.md``.

        Args:
            clinic_id: the clinic.
            rows: an iterable of mappings, consumed once (a generator keeps memory flat).
            progress: called with the number of rows read since its previous call.

        Returns:
            ``ImportReport(created, updated, rejected)``.

        Raises:
            NotFound: no such clinic.
            ValidationError: a key that is not a patient field (``.field`` names it); nothing stored.
            DuplicatePatient: a concurrent writer took an ``external_id`` of this import; nothing stored.
        """
        return self._unit.run(imports_svc.import_patients, clinic_id, rows, progress=progress)

    def import_csv(
        self,
        clinic_id: int,
        path: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
        encoding: str = "utf-8",
    ) -> ImportReport:
        """Create or update patients from a CSV file with a header, in one transaction.

        UTF-8 (a BOM is fine) by default; ``encoding="cp950"`` (or ``"big5"``) reads what Excel in Taiwan saves.

        The header names ``register``'s keyword names (``birth_date`` as ``YYYY-MM-DD``);
        row numbers in the report count data rows from 1.  See ``import_rows``.

        Raises:
            NotFound: no such clinic.
            ValidationError: unknown or duplicate column, no header, not text in ``encoding`` or not CSV, unknown
                ``encoding``; nothing stored.
            DuplicatePatient: a concurrent writer took an ``external_id`` of this import; nothing stored.
            OSError: the file cannot be read.
        """
        return self._unit.run(imports_svc.import_patients_csv, clinic_id, path, progress=progress, encoding=encoding)

    duplicates = service(rights.find_duplicates)
    merge = service(rights.merge_patients)
    export = service(rights.export_patient)
    fhir = service(rights.fhir_bundle)
    erase = service(rights.erase_patient)
    timeline = service(patient_timeline)
