"""The import's writer: applies chunks of cleaned patient rows of one clinic, set-based.

Per chunk: one look-up of the chunk's external ids (skipped when none can exist: a clinic without external ids
before the import, keys after the earlier chunks'), one bulk insert of the new patients
(:class:`clinic_crm.db.copy.BulkInsert`: ``COPY`` on PostgreSQL, ``executemany`` on SQLite) and one
``UPDATE`` executemany per set of changed columns.  It returns the ids it created and updated;
the caller records them in the audit trail (one insert per chunk and action).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from clinic_crm.db.copy import BulkInsert, integrity_errors, select_in
from clinic_crm.errors import DuplicatePatient
from clinic_crm.models import Clinic, Patient
from clinic_crm.services.import_rows import ImportReport, RowError

__all__ = ["ChunkWriter"]

_TABLE: Table = Patient.__table__  # type: ignore[attr-defined]
#: The oid of the sequence numbering patient ids.
_SEQUENCE = "SELECT pg_get_serial_sequence('patient', 'id')::regclass::oid"


class ChunkWriter:
    """Writes chunks of validated rows of one clinic: look up external ids, insert new, update existing."""

    def __init__(self, session: Session, clinic: Clinic, stamp: datetime) -> None:
        self.session = session
        self.clinic_id = clinic.id
        self.stamp = stamp
        connection = session.connection()
        #: every inserted column's value for a new patient, before the row's own fields
        defaults: dict[str, Any] = {
            "id": None,  # numbered before the insert, so the audit trail knows the new patients' ids
            "clinic_id": clinic.id,
            "family_name": None,
            "given_name": None,
            "external_id": None,
            "phone": None,
            "email": None,
            "birth_date": None,
            "locale": clinic.locale,
            "timezone": clinic.timezone,
            "created_at": stamp,
            "updated_at": stamp,
        }
        self.insert = BulkInsert(connection, _TABLE, list(defaults), {"created_at": stamp, "updated_at": stamp})
        self.defaults = defaults | self.insert.constants
        self.integrity_errors = integrity_errors(connection.dialect)
        self.numbering: str | None = None
        if connection.dialect.name == "postgresql":
            # the id sequence is resolved once, here: named through pg_get_serial_sequence inside the numbering
            # query, PostgreSQL looked it up again for every row (a catalog search each, about 7x nextval itself)
            sequence = connection.exec_driver_sql(_SEQUENCE).scalar_one()
            self.numbering = f"SELECT nextval({int(sequence)}::regclass) FROM generate_series(1, %s)"
        #: whether the clinic had a patient with an external id before this import (else only the import's own
        #: earlier chunks can have created one of a chunk's ids)
        self.had_external_ids = (
            connection.execute(
                select(_TABLE.c.id).where(_TABLE.c.clinic_id == clinic.id, _TABLE.c.external_id.is_not(None)).limit(1)
            ).first()
            is not None
        )
        #: the greatest external id (Python's string order) of the chunks written so far, ``None`` before the first
        self.greatest_key: str | None = None

    def write(
        self, numbers: list[int], cleaned: list[dict[str, Any]], report: ImportReport
    ) -> tuple[list[int], list[int]]:
        """Apply one chunk of cleaned rows (``numbers`` their row numbers) in order; count the outcome in ``report``.

        Returns:
            The ids of the patients created and of those updated.
        """
        if not cleaned:
            return [], []
        keys = {ext for clean in cleaned if (ext := clean.get("external_id")) is not None}
        existing = self._existing_ids(keys) if keys and self._may_exist(keys) else {}
        defaults = self.defaults
        inserts: list[dict[str, Any]] = []
        new_by_external_id: dict[str, dict[str, Any]] = {}
        updates: dict[int, dict[str, Any]] = {}
        updated = 0
        for number, clean in zip(numbers, cleaned, strict=True):
            external_id = clean.get("external_id")
            if external_id is not None:
                patient_id = existing.get(external_id) if existing else None
                if patient_id is not None:
                    updates.setdefault(patient_id, {}).update(clean)
                    updated += 1
                    continue
                earlier = new_by_external_id.get(external_id)
                if earlier is not None:  # created earlier in this chunk: the later row updates it
                    earlier.update(clean)
                    updated += 1
                    continue
            if "family_name" not in clean or "given_name" not in clean:
                missing = "family_name" if "family_name" not in clean else "given_name"
                report.rejected.append(RowError(number, missing, f"{missing} is required for a new patient"))
                continue
            record = defaults | clean
            inserts.append(record)
            if external_id is not None:
                new_by_external_id[external_id] = record
        report.updated += updated
        report.created += len(inserts)
        created = self._new_ids(len(inserts))
        for record, patient_id in zip(inserts, created, strict=True):
            record["id"] = patient_id
        try:
            if inserts:
                self.insert(self.session.connection(), inserts)
            self._update(updates)
        except self.integrity_errors as exc:  # a concurrent writer took one of the external ids
            raise DuplicatePatient(
                f"another writer added a patient of clinic {self.clinic_id} with an external_id of this import"
            ) from getattr(exc, "orig", exc)
        return created, list(updates)

    def _new_ids(self, count: int) -> list[int]:
        """Ids for ``count`` new patients: from the sequence (PostgreSQL), or after the largest (SQLite, serialised)."""
        if not count:
            return []
        connection = self.session.connection()
        if self.numbering is not None:  # one round trip; the server calls nextval as a serial column's default does
            cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            cursor.execute(self.numbering, (count,))  # the driver's rows as they come (no per-row result processing)
            return [value for (value,) in cursor.fetchall()]
        start = int(connection.exec_driver_sql("SELECT coalesce(max(id), 0) FROM patient").scalar_one())
        return list(range(start + 1, start + 1 + count))

    def _may_exist(self, keys: set[str]) -> bool:
        """Whether a patient of the clinic may already have one of ``keys`` (else the look-up is skipped).

        It may not when the clinic had no external ids before this import and every key sorts after every key of
        the chunks written before (a file in external-id order, the usual export of a host system): the import
        created none of them, and nothing else has.  A concurrent writer that adds one meanwhile makes the insert
        fail with ``DuplicatePatient``, as when it adds one between a look-up and the insert.
        """
        lowest, greatest = min(keys), max(keys)
        before = self.greatest_key
        if before is None or greatest > before:
            self.greatest_key = greatest
        return self.had_external_ids or (before is not None and lowest <= before)

    def _existing_ids(self, external_ids: set[str]) -> dict[str, int]:
        """``{external_id: patient id}`` of this clinic's patients among ``external_ids`` (driver-level SELECT)."""
        if not external_ids:
            return {}
        connection = self.session.connection()
        return dict(select_in(connection, "patient", "external_id", list(external_ids), {"clinic_id": self.clinic_id}))

    def _update(self, updates: dict[int, dict[str, Any]]) -> None:
        if not updates:
            return
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for patient_id, changes in updates.items():
            changes.pop("external_id", None)  # it is what matched; unchanged
            columns = tuple(sorted(changes))
            by_columns.setdefault(columns, []).append({**changes, "updated_at": self.stamp, "_patient_id": patient_id})
        for params in by_columns.values():
            # the SET clause is every column key of the parameter sets (all alike within a group)
            self.session.execute(update(_TABLE).where(_TABLE.c.id == bindparam("_patient_id")), params)
        # ORM objects of these patients already in the session (bound mode) must not keep stale values
        for instance in list(self.session.identity_map.values()):
            if isinstance(instance, Patient) and instance.id in updates:
                self.session.expire(instance)
