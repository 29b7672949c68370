"""``UTCDateTime`` reads SQLite's stored text through a fused fast parse: the same instants as the general path."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects import postgresql, sqlite

from clinic_crm.models._base import UTCDateTime

DIALECT = sqlite.dialect()


def _general(value: str) -> datetime | None:
    """What the column type gives without the fast path: the dialect's parse, then ``process_result_value``."""
    parse = DateTime().dialect_impl(DIALECT).result_processor(DIALECT, None)
    assert parse is not None
    return UTCDateTime().process_result_value(parse(value), DIALECT)


@pytest.mark.parametrize(
    "stored",
    [
        "2026-03-02 09:00:00.000000",
        "2026-03-02 09:00:00.123456",
        "2026-03-02 09:00:00",
        "1900-01-01 00:00:00.000001",
        "9999-12-31 23:59:59.999999",
        "2026-03-02T09:00:00",
        "2026-03-02 09:00:00.1234",  # another length: the general path
    ],
)
def test_the_sqlite_fast_path_reads_every_stored_form_as_the_general_path_does(stored: str) -> None:
    process = UTCDateTime().dialect_impl(DIALECT).result_processor(DIALECT, None)
    assert process is not None
    got = process(stored)
    assert got == _general(stored) and got is not None and got.tzinfo is UTC
    assert process(None) is None


def test_postgresql_keeps_the_general_processing() -> None:
    dialect = postgresql.dialect()
    process = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)
    aware = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert process is None or process(aware) == aware
