"""Reading an import's CSV file: decoding, the header, and records in bounded memory.

The ``csv`` module reads the records; this module feeds it the file's lines through
:class:`_Lines`, which keeps memory bounded and lets one oversized cell cost only its own
row: a cell over the ``csv`` module's field limit (128 KiB by default; see
``csv.field_size_limit``) or a physical line longer than any valid row can be yields an
:class:`Oversized` marker for that record, and reading goes on after the record's end (a quoted
cell's lines are skipped up to its closing quote, found by counting quotes per line, as the
``csv`` module's standard quoting implies).
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from clinic_crm.errors import ValidationError

__all__ = ["Oversized", "codec", "open_records", "CsvRecords"]

#: The most columns a valid row can have (the patient fields), plus one for a surplus value.
_MAX_CELLS = 9
#: One CSV cell: quoted (with doubled quotes inside) or plain; used only to name an oversized cell's column.
_CELL = re.compile(r'"(?:[^"]|"")*"?|[^,\r\n]*')


@dataclass(frozen=True, slots=True)
class Oversized:
    """A record with a cell over the field limit (``column``: its 0-based position, ``None`` if unknown)."""

    column: int | None
    limit: int


class _OverlongLine(Exception):
    """A physical line longer than any valid row: raised through the ``csv`` reader, caught by ``CsvRecords``."""


def codec(encoding: object) -> str:
    """The Python codec for ``encoding`` (UTF-8 reads with or without a BOM), else ``ValidationError``."""
    if not isinstance(encoding, str):
        raise ValidationError("encoding must be a codec name such as 'utf-8' or 'cp950'", field="encoding")
    try:
        name = codecs.lookup(encoding).name
    except (LookupError, ValueError):  # ValueError: a NUL or a lone surrogate in the name
        raise ValidationError("encoding must be a codec name such as 'utf-8' or 'cp950'", field="encoding") from None
    return "utf-8-sig" if name in ("utf-8", "utf-8-sig") else name


class _Lines:
    """The file's lines for ``csv.reader``, at most ``limit`` characters each, with the current record's text.

    A record starts at a line when the quotes read since the previous record are even (standard quoting).
    ``record`` keeps the current record's lines up to ``limit`` characters (to name an oversized cell).
    """

    __slots__ = ("_readline", "limit", "odd", "record", "size", "number")

    def __init__(self, handle: IO[str], limit: int) -> None:
        self._readline = handle.readline
        self.limit = limit
        self.odd = False  # inside a quoted cell at the end of the last line
        self.record: list[str] = []
        self.size = 0
        self.number = 0  # physical lines read

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._readline(self.limit)
        if not line:
            raise StopIteration
        self.number += 1
        if not self.odd:
            self.record.clear()
            self.size = 0
        if self.size < self.limit:
            self.record.append(line)
            self.size += len(line)
        if line.count('"') & 1:
            self.odd = not self.odd
        if len(line) >= self.limit and line[-1] not in "\r\n":
            self._skip_rest_of_line()
            raise _OverlongLine
        return line

    def _skip_rest_of_line(self) -> None:
        while more := self._readline(self.limit):
            if more.count('"') & 1:
                self.odd = not self.odd
            if more[-1] in "\r\n":
                break

    def skip_to_record_end(self) -> None:
        """Read on to the end of the current record (the closing quote of a cell open at the last line's end)."""
        while self.odd and next(self, None) is not None:
            pass
        self.odd = False


class CsvRecords:
    """The header and then the records of an open CSV file; an oversized record comes as :class:`Oversized`."""

    def __init__(self, handle: IO[str]) -> None:
        self.field_limit = csv.field_size_limit()
        self.lines = _Lines(handle, _MAX_CELLS * (self.field_limit + 3))
        self.reader = csv.reader(self.lines)

    @property
    def line_number(self) -> int:
        """Physical lines read so far (for messages about the file)."""
        return self.lines.number

    def header(self) -> list[str] | None:
        """The first record's cells, stripped; ``None`` for an empty file."""
        for record in self:
            if isinstance(record, Oversized):
                return [""] * _MAX_CELLS  # not a header: none of its cells is a column name
            return [name.strip() for name in record]
        return None

    def __iter__(self) -> Iterator[list[str] | Oversized]:
        reader = self.reader
        while True:
            try:
                yield from reader
                return
            except _OverlongLine:
                pass
            except csv.Error as exc:
                if "field larger than field limit" not in str(exc):
                    raise
            self.lines.skip_to_record_end()
            yield Oversized(self._oversized_column(), self.field_limit)

    def _oversized_column(self) -> int | None:
        """The position of the first cell over the field limit in the current record's kept text, if found."""
        text = "".join(self.lines.record)
        position = column = 0
        while position <= len(text):
            cell = _CELL.match(text, position)
            assert cell is not None  # the pattern matches the empty string
            if cell.end() - cell.start() > self.field_limit:
                return column
            position = cell.end()
            if not text.startswith(",", position):
                return None
            position += 1
            column += 1
        return None  # pragma: no cover - the loop returns


def open_records(handle: IO[str]) -> CsvRecords:
    """The records of ``handle`` (opened with ``newline=""``), read in bounded memory."""
    return CsvRecords(handle)
