"""Bulk import of patients from rows or a CSV file: streamed, validated in Python, written set-based.

Rows are read one at a time and validated with :func:`clean_patient_fields`'s
per-field cleaners (the same rules as ``register``; a CSV cell goes straight to its
column's cleaner); valid rows are written per chunk of :data:`CHUNK_SIZE` rows by
:class:`~clinic_crm.services.import_writer.ChunkWriter` (one look-up of the chunk's external ids,
one bulk insert — ``executemany`` on SQLite, ``COPY`` on PostgreSQL — and one ``UPDATE``
executemany per set of changed columns), and each chunk's patients get their audit events in one
insert per action (``AuditBatches``: the chain's tail is read once per import and moved once, at the end).
The look-up is skipped for a chunk when no key of it can exist (see ``ChunkWriter._may_exist``).
Only the rejected rows are kept in memory, so a file of a million
rows imports in flat memory.

On PostgreSQL the chunks are written on one worker thread while this thread validates the next
one (``import_pipeline``), so the server's work overlaps the parsing as in a streaming ``COPY``.

Where the parts live: CSV decoding and records (``import_csv``), row rules and the report
(``import_rows``), the writer (``import_writer``), the overlap (``import_pipeline``), driver-level
``COPY``/``executemany`` (``clinic_crm.db.copy``).

Semantics (documented in ``docs/patients.md``):

* a row whose ``external_id`` names a patient of the clinic updates that patient;
  a missing or blank cell keeps the stored value (an import never clears a field);
* any other row registers a new patient: ``family_name`` and ``given_name`` are
  required, blank optional fields are ``None``, locale and time zone default to
  the clinic's;
* rows apply in file order: an ``external_id`` seen earlier in the same import
  is updated by the later row, exactly as if the rows had been imported one by one;
* a rejected row is reported as ``RowError(row, field, reason)`` (the first
  failing field, in the row's column order) and the other rows still land; a CSV
  cell over the ``csv`` module's field limit rejects only its row;
* an unknown column rejects the whole import with ``ValidationError`` naming the
  column by its position (never by its text), before anything is written.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from clinic_crm.db.copy import uses_copy
from clinic_crm.errors import ValidationError
from clinic_crm.models import Clinic
from clinic_crm.services._common import get_or_404
from clinic_crm.services.audit import AuditBatches, record_audit
from clinic_crm.services.import_csv import codec, open_records
from clinic_crm.services.import_pipeline import HAND_OVER_MASK, ChunkPipeline
from clinic_crm.services.import_rows import (
    ImportReport,
    RowError,
    check_header,
    cleaned_rows,
    csv_rows,
    mapping_rows,
)
from clinic_crm.services.import_writer import ChunkWriter
from clinic_crm.services.patient_names import names_changed
from clinic_crm.values import utc

__all__ = ["CHUNK_SIZE", "ImportReport", "RowError", "import_patients", "import_patients_csv", "Progress"]

#: Rows validated and written together (one SELECT, one INSERT, a few UPDATEs per chunk).
CHUNK_SIZE = 5000

#: Called with the number of data rows read since the previous call (``tqdm.update`` fits).
Progress = Callable[[int], object]


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
        ValidationError: a row has a key that is not a patient field (the message gives the row and the key's
            position, ``.field`` the key); nothing is kept.
        DuplicatePatient: a concurrent writer added an ``external_id`` of this import; nothing is kept.
    """
    return _import(
        session,
        clinic_id,
        lambda clinic: cleaned_rows(clinic, mapping_rows(rows)),
        now=now,
        chunk_size=chunk_size,
        progress=progress,
        # a lazy iterable may run the caller's code (even queries on this session) between rows: no worker then
        overlap=isinstance(rows, (list, tuple)),
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
    missing trailing columns blank; a row with a cell longer than the ``csv`` module's
    field limit (128 KiB unless ``csv.field_size_limit`` was raised) is rejected (field: that
    cell's column) and reading goes on after it.

    Raises:
        NotFound: no such clinic.
        ValidationError: no header (``.field == "header"``), a duplicate or unknown column (the message gives
            its position, ``.field`` its text), a file that is not text in ``encoding`` or not CSV
            (``.field == "file"``), an unknown ``encoding`` (``.field == "encoding"``); nothing is kept.
        DuplicatePatient: a concurrent writer added an ``external_id`` of this import; nothing is kept.
        OSError: the file cannot be opened.
    """
    name = codec(encoding)
    _check_path(path)
    get_or_404(session, Clinic, clinic_id)  # an unknown clinic is reported before the file is read
    with open(path, encoding=name, newline="") as handle:
        records = open_records(handle)
        try:
            header = records.header()
            if header is None:
                raise ValidationError("the CSV file is empty; expected a header row", field="file")
            check_header(header)
            return _import(
                session,
                clinic_id,
                lambda clinic: csv_rows(clinic, records, header),
                now=now,
                chunk_size=chunk_size,
                progress=progress,
                overlap=True,
            )
        except UnicodeDecodeError:
            hint = (
                " (a file saved by Excel in Taiwan is usually cp950: try encoding='cp950')"
                if name == "utf-8-sig"
                else ""
            )
            raise ValidationError(
                f"the file is not {encoding} text near line {records.line_number + 1}{hint}", field="file"
            ) from None
        except csv.Error as exc:
            raise ValidationError(
                f"the file is not valid CSV at line {records.line_number}: {exc}", field="file"
            ) from None


def _check_path(path: object) -> None:
    """``ValidationError`` unless ``path`` is a ``str`` or ``os.PathLike`` the operating system can take."""
    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    try:
        if not isinstance(name, str) or b"\x00" in os.fsencode(name):
            raise ValueError
    except (ValueError, UnicodeEncodeError):
        raise ValidationError("path must be a file name (str or os.PathLike, no NUL)", field="path") from None


def _import(
    session: Session,
    clinic_id: int,
    rows_of: Callable[[Clinic], Iterator[dict[str, Any] | RowError]],
    *,
    now: datetime | None,
    chunk_size: int | None,
    progress: Progress | None,
    overlap: bool,
) -> ImportReport:
    """Write the cleaned rows ``rows_of(clinic)`` yields per chunk; the n-th item is row n (cleaned, or refused).

    ``overlap``: reading the rows runs only the library's code, so on PostgreSQL a worker thread may write
    chunks meanwhile (:mod:`~clinic_crm.services.import_pipeline`).
    """
    if progress is not None and not callable(progress):
        raise ValidationError("progress must be None or a callable taking a row count", field="progress")
    if chunk_size is None:
        chunk_size = CHUNK_SIZE
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValidationError("chunk_size must be a positive integer", field="chunk_size")
    clinic = get_or_404(session, Clinic, clinic_id)
    session.flush()  # a bound session's pending patients must be visible to the external_id look-up
    writer = ChunkWriter(session, clinic, utc(now))
    report = ImportReport()
    rejected = report.rejected

    audit = AuditBatches(session)  # the chain's tail is read once and moved once, after the last chunk

    def apply(numbers: list[int], cleaned: list[dict[str, Any]]) -> None:
        created, updated = writer.write(numbers, cleaned, report)
        audit.record(created, "create", {"via": "import"})  # one INSERT (COPY) per chunk and action
        audit.record(updated, "update", {"via": "import"})

    # two flat lists rather than a tuple per row: fewer objects for the garbage collector to track
    numbers: list[int] = []
    cleaned: list[dict[str, Any]] = []
    number = read = 0
    # PostgreSQL: the server writes a chunk while this thread validates the next one (see import_pipeline)
    background = overlap and uses_copy(session.connection().dialect)
    with ChunkPipeline(apply, background=background) as pipeline:
        for item in rows_of(clinic):
            number += 1
            read += 1
            if background and not number & HAND_OVER_MASK:
                pipeline.hand_over()
            if type(item) is dict:
                cleaned.append(item)
                numbers.append(number)
            else:
                assert isinstance(item, RowError)
                rejected.append(item)
            if read >= chunk_size:
                pipeline.submit(numbers, cleaned)
                numbers, cleaned = [], []
                if progress is not None:
                    progress(read)
                read = 0
        pipeline.submit(numbers, cleaned)
        pipeline.close()
    audit.close()
    if progress is not None and read:
        progress(read)
    rejected.sort(key=lambda error: error.row)  # errors found at write time come after a chunk's others
    if report.created or report.updated:
        names_changed(session, clinic_id)  # the reply check's name index must be rebuilt
    summary = {"clinic_id": clinic_id, "created": report.created, "updated": report.updated, "rejected": len(rejected)}
    record_audit(session, [None], "import", summary)  # the import itself; each patient has its own event
    return report
