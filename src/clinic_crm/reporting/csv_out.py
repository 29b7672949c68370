"""CSV for people: every CSV file the library writes for a spreadsheet goes through :func:`write_csv`.

Stored data keeps what was given (a review that starts with ``=`` is stored as written); only the file a person
opens in Excel, LibreOffice or Google Sheets is neutralised, as the OWASP CSV-injection guidance asks: a text cell
that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` so that no spreadsheet
evaluates it as a formula.  Numbers (``int``, ``float``, ``Decimal``) stay numbers, so ``-12.5`` is still a number
in the sheet; ``None`` is an empty cell.  Files are UTF-8 with a byte-order mark, which Excel needs to show
Chinese text correctly, and ``\\r\\n`` line ends.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TextIO

__all__ = ["FORMULA_PREFIXES", "Cell", "safe_cell", "write_csv"]

#: The first characters that make a spreadsheet read a text cell as a formula (OWASP, "CSV Injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

#: What a cell may hold.
Cell = str | int | float | Decimal | date | datetime | None


def safe_cell(value: Cell) -> str | int | float | Decimal:
    """The value to write for ``value``: numbers unchanged, ``None`` as ``""``, dates in ISO 8601, text that a
    spreadsheet would run as a formula prefixed with ``'``."""
    if value is None:
        return ""
    if isinstance(value, bool):  # a bool is an int to Python, but "True" is text to a person
        return str(value).lower()
    if isinstance(value, int | float | Decimal):
        return value
    text = value.isoformat() if isinstance(value, date | datetime) else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def write_csv(target: str | os.PathLike[str] | TextIO, header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> int:
    """Write ``header`` and ``rows`` as CSV to a path (UTF-8 with BOM) or an open text stream; return the rows
    written.  Every cell, header included, goes through :func:`safe_cell`."""
    if isinstance(target, str | os.PathLike):
        with Path(target).open("w", encoding="utf-8-sig", newline="") as handle:
            return write_csv(handle, header, rows)
    writer = csv.writer(target, lineterminator="\r\n")
    writer.writerow([safe_cell(name) for name in header])
    count = 0
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
        count += 1
    return count
