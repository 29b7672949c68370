"""The import's row rules: what a report holds, which columns are accepted, how a row is cleaned.

Every value goes through the cleaner ``register`` uses for its field
(:func:`clinic_crm.services.patients.patient_field_cleaners`); a rejected row becomes a
:class:`RowError` and the other rows go on.  No message here quotes the input: a column or
key is named by its position, since a header row may really be a row of patient data.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from clinic_crm.errors import ValidationError
from clinic_crm.models import Clinic
from clinic_crm.services.import_csv import Oversized
from clinic_crm.services.patients import PATIENT_FIELDS, clean_patient_fields, clinic_rules, patient_field_cleaners

__all__ = ["ImportReport", "RowError", "check_header", "csv_rows", "mapping_rows", "cleaned_rows"]

_FIELDS = frozenset(PATIENT_FIELDS)
_KNOWN = ", ".join(PATIENT_FIELDS)


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


def check_header(header: list[str]) -> None:
    """Accept a header of distinct patient field names; else ``ValidationError`` naming the column by position.

    ``.field`` is ``"header"`` when no cell is a field name (most likely a file without a header), else
    the offending column's text, which the message never repeats.
    """
    if not any(name in _FIELDS for name in header):
        raise ValidationError(
            f"the first row is not a header: none of its cells is a column name; expected some of {_KNOWN}",
            field="header",
        )
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if name not in _FIELDS:
            raise ValidationError(
                f"column {position} of the header is not a known field; known fields are {_KNOWN}", field=name
            )
        if name in seen:
            raise ValidationError(
                f"column {position} of the header repeats the field of column {seen[name]}", field=name
            )
        seen[name] = position


def csv_rows(
    clinic: Clinic, records: Iterable[list[str] | Oversized], header: list[str]
) -> Iterator[dict[str, Any] | RowError]:
    """One item per data record (row numbers are implied by position): its cleaned non-blank cells, or why not.

    The same as ``clean_patient_fields`` on the dict of the row's non-blank cells, without building that
    dict: each cell goes straight to its column's cleaner, in the header's order.
    """
    width = len(header)
    columns = list(zip(header, patient_field_cleaners(header), strict=True))
    rules = clinic_rules(clinic)
    number = 0
    for record in records:
        if not record:
            continue  # an empty line
        number += 1
        if type(record) is not list:
            assert isinstance(record, Oversized)
            where = header[record.column] if record.column is not None and record.column < width else "row"
            yield RowError(number, where, f"a cell is longer than {record.limit} characters")
            continue
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


def mapping_rows(rows: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """One item per row: its non-blank values; a row that is not a mapping or has an unknown key refuses the import.

    The unknown key is named by its position in the row, never quoted (``.field`` holds it).
    """
    number = 0
    for row in rows:
        number += 1
        if not isinstance(row, Mapping):
            raise ValidationError("each row must be a mapping of column name to value", field="rows")
        if not row.keys() <= _FIELDS:
            position, name = next((i, key) for i, key in enumerate(row, start=1) if key not in _FIELDS)
            raise ValidationError(
                f"row {number}: key {position} is not a patient field; known fields are {_KNOWN}",
                field=str(name),
            )
        given: dict[str, Any] = {}
        for key, value in row.items():  # None and blank strings are left out: they keep the stored value
            if isinstance(value, str):
                value = value.strip()
                if value:
                    given[key] = value
            elif value is not None:
                given[key] = value
        yield given


def cleaned_rows(clinic: Clinic, rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any] | RowError]:
    """Each row's fields through ``clean_patient_fields``, or the ``RowError`` saying why it is refused."""
    rules = clinic_rules(clinic)  # a plain snapshot: the writer may be using the session on another thread
    number = 0
    for given in rows:
        number += 1
        try:
            clean = clean_patient_fields(rules, given)
        except ValidationError as exc:
            yield RowError(number, exc.field or "row", str(exc))
            continue
        yield clean
