"""Bulk import of patients from rows or a CSV file: streamed, validated in Python, written set-based.

Rows are read one at a time and validated with :func:`clean_patient_fields`'s
per-field cleaners (the same rules as ``register``; a CSV cell goes straight to its
column's cleaner); valid rows are written per chunk of
:data:`CHUNK_SIZE` rows with one look-up of the chunk's external ids
(``IN (…)`` on SQLite, ``= ANY(array)`` on PostgreSQL), one bulk insert of the new
patients (driver ``executemany`` on SQLite, ``COPY`` on PostgreSQL; values pass
through the columns' own SQLAlchemy bind processors) and one ``UPDATE``
executemany per set of changed columns.  Only the rejected rows are kept in
memory, so a file of a million rows imports in flat memory.

Semantics (documented in ``docs/patients.md``):

* a row whose ``external_id`` names a patient of the clinic updates that patient;
  a missing or blank cell keeps the stored value (an import never clears a field);
* any other row registers a new patient: ``family_name`` and ``given_name`` are
  required, blank optional fields are ``None``, locale and time zone default to
  the clinic's;
* rows apply in file order: an ``external_id`` seen earlier in the same import
  is updated by the later row, exactly as if the rows had been imported one by one;
* a rejected row is reported as ``RowError(row, field, reason)`` (the first
  failing field, in the row's column order) and the other rows still land;
* an unknown column rejects the whole import with ``ValidationError`` naming the
  column, before anything is written.
"""

from __future__ import annotations

import codecs
import csv
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Date, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clinic_crm.errors import DuplicatePatient, ValidationError
from clinic_crm.models import Clinic, Patient
from clinic_crm.services._common import get_or_404
from clinic_crm.services.audit import record_audit
from clinic_crm.services.patients import PATIENT_FIELDS, clean_patient_fields, clinic_rules, patient_field_cleaners
from clinic_crm.values import utc

__all__ = ["CHUNK_SIZE", "ImportReport", "RowError", "import_patients", "import_patients_csv"]

#: Rows validated and written together (one SELECT, one INSERT, a few UPDATEs per chunk).
CHUNK_SIZE = 5000

#: Called with the number of data rows read since the previous call (``tqdm.update`` fits).
Progress = Callable[[int], object]

_FIELDS = frozenset(PATIENT_FIELDS)
_TABLE = Patient.__table__  # type: ignore[attr-defined]
_LOOKUP_SLICE = 2000  # external ids per SELECT … IN (…), well below every driver's parameter limit


@dataclass(frozen=True, slots=True)
class RowError:
    """One rejected row: its 1-based number among the data rows, the offending field and why.

    ``reason`` is the validation message; it never contains the row's data.
    """

    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.reason}"


@dataclass(slots=True)
class ImportReport:
    """What an import did: patients created, patients updated, rows rejected (one ``RowError`` per row)."""

    created: int = 0
    updated: int = 0
    rejected: list[RowError] = field(default_factory=list)


def import_patients(
    session: Session,
    clinic_id: int,
    rows: Iterable[Mapping[str, Any]],
    *,
    now: datetime | None = None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Create or update patients of a clinic from dicts keyed by ``register``'s keyword names.

    ``None`` and blank strings count as missing (the stored value is kept).

    Args:
        session: the session of the caller's transaction (flushed, never committed).
        clinic_id: the clinic the patients belong to.
        rows: any iterable of mappings; it is consumed once, in chunks.
        now: the ``created_at``/``updated_at`` stamp (default: now).
        chunk_size: rows per written chunk (default :data:`CHUNK_SIZE`).
        progress: called with the number of rows read since its previous call.

    Returns:
        The ``ImportReport``.

    Raises:
        NotFound: no such clinic.
        ValidationError: a row has a key that is not a patient field (``.field`` names it); nothing is kept.
        DuplicatePatient: a concurrent writer added an ``external_id`` of this import; nothing is kept.
    """
    return _import(
        session,
        clinic_id,
        lambda clinic: _cleaned(clinic, _checked(rows)),
        now=now,
        chunk_size=chunk_size,
        progress=progress,
    )


def import_patients_csv(
    session: Session,
    clinic_id: int,
    path: str | os.PathLike[str],
    *,
    now: datetime | None = None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    encoding: str = "utf-8",
) -> ImportReport:
    """Create or update patients from a CSV file (comma-separated, with a header; UTF-8 with or without a BOM by
    default, or ``encoding="cp950"`` / ``"big5"`` for what Excel in Taiwan saves).

    The header names ``register``'s keyword names, in any order and any subset.
    Empty lines are skipped and not counted; a row with more values than the
    header has columns is rejected (field ``"row"``); a shorter row leaves the
    missing trailing columns blank.

    Raises:
        NotFound: no such clinic.
        ValidationError: no header (``.field == "header"``), a duplicate or unknown column (``.field`` names it),
            a file that is not text in ``encoding`` or not CSV (``.field == "file"``), an unknown ``encoding``
            (``.field == "encoding"``); nothing is kept.
        DuplicatePatient: a concurrent writer added an ``external_id`` of this import; nothing is kept.
        OSError: the file cannot be opened.
    """
    codec = _codec(encoding)
    _check_path(path)
    get_or_404(session, Clinic, clinic_id)  # an unknown clinic is reported before the file is read
    with open(path, encoding=codec, newline="") as handle:
        reader = csv.reader(handle)
        try:
            try:
                header = [name.strip() for name in next(reader)]
            except StopIteration:
                raise ValidationError("the CSV file is empty; expected a header row", field="file") from None
            _check_header(header)
            return _import(
                session,
                clinic_id,
                lambda clinic: _csv_rows(clinic, reader, header),
                now=now,
                chunk_size=chunk_size,
                progress=progress,
            )
        except UnicodeDecodeError:
            hint = (
                " (a file saved by Excel in Taiwan is usually cp950: try encoding='cp950')"
                if codec == "utf-8-sig"
                else ""
            )
            raise ValidationError(
                f"the file is not {encoding} text near line {reader.line_num + 1}{hint}", field="file"
            ) from None
        except csv.Error as exc:
            raise ValidationError(f"the file is not valid CSV at line {reader.line_num}: {exc}", field="file") from None


def _check_path(path: object) -> None:
    """``ValidationError`` unless ``path`` is a ``str`` or ``os.PathLike`` the operating system can take."""
    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    try:
        if not isinstance(name, str) or b"\x00" in os.fsencode(name):
            raise ValueError
    except (ValueError, UnicodeEncodeError):
        raise ValidationError("path must be a file name (str or os.PathLike, no NUL)", field="path") from None


def _codec(encoding: object) -> str:
    """The Python codec for ``encoding`` (UTF-8 reads with or without a BOM), else ``ValidationError``."""
    if not isinstance(encoding, str):
        raise ValidationError("encoding must be a codec name such as 'utf-8' or 'cp950'", field="encoding")
    try:
        name = codecs.lookup(encoding).name
    except (LookupError, ValueError):  # ValueError: a NUL or a lone surrogate in the name
        raise ValidationError("encoding must be a codec name such as 'utf-8' or 'cp950'", field="encoding") from None
    return "utf-8-sig" if name in ("utf-8", "utf-8-sig") else name


def _check_header(header: list[str]) -> None:
    if not any(name in _FIELDS for name in header):
        # most likely a file without a header: its first row is patient data, which must not be echoed
        raise ValidationError(
            f"the first row is not a header: none of its cells is a column name; expected some of "
            f"{', '.join(PATIENT_FIELDS)}",
            field="header",
        )
    seen: set[str] = set()
    for name in header:
        if name not in _FIELDS:
            raise ValidationError(_unknown_column(name), field=name)
        if name in seen:
            raise ValidationError(f"column {name!r} appears twice in the header", field=name)
        seen.add(name)


def _unknown_column(name: object) -> str:
    return f"unknown column {name!r}; expected some of {', '.join(PATIENT_FIELDS)}"


def _csv_rows(clinic: Clinic, reader: Iterator[list[str]], header: list[str]) -> Iterator[dict[str, Any] | RowError]:
    """One item per data row (row numbers are implied by position): its cleaned non-blank cells, or why it is refused.

    The same as ``clean_patient_fields`` on the dict of the row's non-blank cells, without building that
    dict: each cell goes straight to its column's cleaner, in the header's order.
    """
    width = len(header)
    columns = list(zip(header, patient_field_cleaners(header), strict=True))
    rules = clinic_rules(clinic)
    number = 0
    for record in reader:
        if not record:
            continue  # an empty line
        number += 1
        if len(record) > width:
            yield RowError(number, "row", f"the row has {len(record)} values but the header {width} columns")
            continue
        clean: dict[str, Any] = {}
        try:
            for (name, cleaner), value in zip(columns, record, strict=False):
                text = value.strip()
                if text:  # blank cells are left out: they keep the stored value
                    clean[name] = cleaner(rules, text)
        except ValidationError as exc:
            yield RowError(number, exc.field or "row", str(exc))
            continue
        yield clean


def _cleaned(clinic: Clinic, rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any] | RowError]:
    """Each row's fields through ``clean_patient_fields``, or the ``RowError`` saying why it is refused."""
    number = 0
    for given in rows:
        number += 1
        try:
            clean = clean_patient_fields(clinic, given)
        except ValidationError as exc:
            yield RowError(number, exc.field or "row", str(exc))
            continue
        yield clean


def _checked(rows: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """One item per row: its non-blank values; an unknown key refuses the whole import."""
    for row in rows:
        if not isinstance(row, Mapping):
            raise ValidationError("each row must be a mapping of column name to value", field="rows")
        unknown = row.keys() - _FIELDS
        if unknown:
            name = sorted(map(str, unknown))[0]
            raise ValidationError(_unknown_column(name), field=name)
        given: dict[str, Any] = {}
        for key, value in row.items():  # None and blank strings are left out: they keep the stored value
            if isinstance(value, str):
                value = value.strip()
                if value:
                    given[key] = value
            elif value is not None:
                given[key] = value
        yield given


def _import(
    session: Session,
    clinic_id: int,
    rows_of: Callable[[Clinic], Iterator[dict[str, Any] | RowError]],
    *,
    now: datetime | None,
    chunk_size: int | None,
    progress: Progress | None,
) -> ImportReport:
    """Write the cleaned rows ``rows_of(clinic)`` yields per chunk; the n-th item is row n (cleaned, or refused)."""
    if progress is not None and not callable(progress):
        raise ValidationError("progress must be None or a callable taking a row count", field="progress")
    if chunk_size is None:
        chunk_size = CHUNK_SIZE
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValidationError("chunk_size must be a positive integer", field="chunk_size")
    clinic = get_or_404(session, Clinic, clinic_id)
    session.flush()  # a bound session's pending patients must be visible to the external_id look-up
    writer = _ChunkWriter(session, clinic, utc(now))
    report = ImportReport()
    rejected = report.rejected
    # two flat lists rather than a tuple per row: fewer objects for the garbage collector to track
    numbers: list[int] = []
    cleaned: list[dict[str, Any]] = []
    number = read = 0
    for item in rows_of(clinic):
        number += 1
        read += 1
        if type(item) is dict:
            cleaned.append(item)
            numbers.append(number)
        else:
            assert isinstance(item, RowError)
            rejected.append(item)
        if read >= chunk_size:
            writer.write(numbers, cleaned, report)
            numbers.clear()
            cleaned.clear()
            if progress is not None:
                progress(read)
            read = 0
    writer.write(numbers, cleaned, report)
    if progress is not None and read:
        progress(read)
    rejected.sort(key=lambda error: error.row)  # errors found at write time come after a chunk's others
    summary = {"clinic_id": clinic_id, "created": report.created, "updated": report.updated, "rejected": len(rejected)}
    record_audit(session, [None], "import", summary)  # the import itself; each patient has its own event
    return report


#: Dates on which a fast date processor must agree with the dialect's own (every width of year, leap day).
_DATE_SAMPLES = (date(1, 1, 1), date(999, 12, 31), date(1880, 1, 1), date(2024, 2, 29), date(9999, 12, 31))


def _fast_date_processor(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``date.isoformat`` (C) where it gives exactly what the dialect's date bind processor gives, else the latter.

    SQLite's ``DATE`` processor formats ``%(year)04d-%(month)02d-%(day)02d`` in Python,
    which is ``date.isoformat()``; a dialect storing dates another way keeps its own processor.
    """
    if all(processor(day) == day.isoformat() for day in _DATE_SAMPLES):
        return date.isoformat
    return processor


class _ChunkWriter:
    """Writes chunks of validated rows of one clinic: look up external ids, insert new, update existing."""

    def __init__(self, session: Session, clinic: Clinic, stamp: datetime) -> None:
        self.session = session
        self.clinic_id = clinic.id
        self.stamp = stamp
        #: every inserted column's value for a new patient, before the row's own fields
        self.defaults: dict[str, Any] = {
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
        # INSERT at driver level: SQLAlchemy's per-row parameter processing costs more than the
        # insert itself.  The SQL is compiled by SQLAlchemy for this dialect and every value goes
        # through the column type's own bind processor, so what is stored is identical.
        dialect = session.connection().dialect
        compiled = insert(_TABLE).compile(dialect=dialect, column_keys=list(self.defaults))
        self.insert_sql = str(compiled)
        self.positional = bool(compiled.positional)
        self.order: tuple[str, ...] = tuple(compiled.positiontup or ()) if self.positional else tuple(self.defaults)
        self.mark = "?" if dialect.paramstyle == "qmark" else "%s"  # positional marker of the driver
        self.copy_sql = (
            f"COPY patient ({', '.join(self.order)}) FROM STDIN"
            if dialect.name == "postgresql" and dialect.driver == "psycopg"
            else None
        )
        # COPY runs on the driver's cursor: its errors arrive unwrapped
        dbapi_error = getattr(dialect.dbapi, "IntegrityError", IntegrityError)
        self.integrity_errors: tuple[type[Exception], ...] = (IntegrityError, dbapi_error)
        self.postgres = dialect.name == "postgresql"
        processors = {name: _TABLE.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in self.defaults}
        for name in ("created_at", "updated_at"):  # the same instant on every row: process once
            processor = processors.pop(name)
            if processor is not None:
                self.defaults[name] = processor(stamp)
        self.processors = [
            (name, _fast_date_processor(processor) if isinstance(_TABLE.c[name].type, Date) else processor)
            for name, processor in processors.items()
            if processor is not None
        ]

    def write(self, numbers: list[int], cleaned: list[dict[str, Any]], report: ImportReport) -> None:
        """Apply one chunk of cleaned rows (``numbers`` their row numbers) in order; count the outcome in ``report``."""
        if not cleaned:
            return
        existing = self._existing_ids({ext for clean in cleaned if (ext := clean.get("external_id")) is not None})
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
                self._insert(inserts)
            self._update(updates)
        except self.integrity_errors as exc:  # a concurrent writer took one of the external ids
            raise DuplicatePatient(
                f"another writer added a patient of clinic {self.clinic_id} with an external_id of this import"
            ) from getattr(exc, "orig", exc)
        record_audit(self.session, created, "create", {"via": "import"})
        record_audit(self.session, list(updates), "update", {"via": "import"})

    def _new_ids(self, count: int) -> list[int]:
        """Ids for ``count`` new patients: from the sequence (PostgreSQL), or after the largest (SQLite, serialised)."""
        if not count:
            return []
        connection = self.session.connection()
        if self.postgres:
            numbers = select(func.nextval(func.pg_get_serial_sequence("patient", "id"))).select_from(
                func.generate_series(1, count)
            )
            return [int(value) for value in connection.execute(numbers).scalars()]
        start = int(connection.exec_driver_sql("SELECT coalesce(max(id), 0) FROM patient").scalar_one())
        return list(range(start + 1, start + 1 + count))

    def _insert(self, records: list[dict[str, Any]]) -> None:
        for name, processor in self.processors:
            for record in records:
                value = record[name]
                if value is not None:
                    record[name] = processor(value)
        if self.copy_sql is not None:  # PostgreSQL: COPY is about twice as fast as a multi-row INSERT
            cursor = self.session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            row = itemgetter(*self.order)
            with cursor.copy(self.copy_sql) as copy:
                for record in records:
                    copy.write_row(row(record))
            return
        params: list[Any] = records
        if self.positional:
            params = list(map(itemgetter(*self.order), records))
        self.session.connection().exec_driver_sql(self.insert_sql, params)

    def _existing_ids(self, external_ids: set[str]) -> dict[str, int]:
        """``{external_id: patient id}`` of this clinic's patients among ``external_ids`` (driver-level SELECT)."""
        found: dict[str, int] = {}
        wanted = list(external_ids)
        connection = self.session.connection()
        if self.copy_sql is not None:  # PostgreSQL: one array parameter instead of thousands
            sql = "SELECT external_id, id FROM patient WHERE clinic_id = %s AND external_id = ANY(%s)"
            # never a prepared statement: psycopg prepares a statement run 5 times, and PostgreSQL's generic plan,
            # made while the table was small, would scan the whole (growing) table on every chunk
            cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            cursor.execute(sql, (self.clinic_id, wanted), prepare=False)  # type: ignore[call-arg]
            found.update(cursor.fetchall())
            return found
        for start in range(0, len(wanted), _LOOKUP_SLICE):
            part = wanted[start : start + _LOOKUP_SLICE]
            marks = ", ".join([self.mark] * len(part))
            sql = f"SELECT external_id, id FROM patient WHERE clinic_id = {self.mark} AND external_id IN ({marks})"
            found.update(connection.exec_driver_sql(sql, (self.clinic_id, *part)).all())
        return found

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
