"""The import's external-id look-up: the unique index answers it, even on a table just filled and not analysed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Table, UniqueConstraint

from clinic_crm import ClinicCRM
from clinic_crm.db.copy import copy_rows, key_lookup_sql, select_in
from clinic_crm.models import Clinic, Patient

_TABLE: Table = Patient.__table__  # type: ignore[attr-defined]
_UNIQUE = next(
    str(c.name)
    for c in _TABLE.constraints
    if isinstance(c, UniqueConstraint) and [col.name for col in c.columns] == ["clinic_id", "external_id"]
)
_COLUMNS = ("clinic_id", "external_id", "family_name", "given_name", "locale", "timezone", "created_at", "updated_at")


def test_lookup_plans_through_the_unique_index_with_stale_statistics(crm: ClinicCRM, clinic: Clinic) -> None:
    """Fill the table inside one transaction (what an import does; no ANALYZE can see it) and EXPLAIN the look-up.

    ``external_id = ANY(…)`` and an equality ``LATERAL`` probe were planned here through the ``(clinic_id,
    updated_at)`` index, reading every row of the clinic per chunk or even per key (3.6 s for 5,000 keys at 10,000
    rows); the look-up must probe the unique index once per key.
    """
    if crm.engine.dialect.name != "postgresql":
        pytest.skip("the plan is PostgreSQL's (SQLite's look-up is IN (…) slices on its unique index)")
    assert clinic.id is not None
    stamp = datetime(2026, 3, 2, tzinfo=UTC)
    with crm.engine.begin() as conn:
        rows = ((clinic.id, f"S{i:06d}", "王", "小明", "zh_TW", "Asia/Taipei", stamp, stamp) for i in range(10_000))
        copy_rows(conn, "patient", _COLUMNS, rows)
        keys = [f"S{i:06d}" for i in range(7_500, 12_500)]  # half of them exist
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        sql = key_lookup_sql("patient", "external_id", ["clinic_id"])
        cursor.execute(f"EXPLAIN (ANALYZE, TIMING OFF) {sql}", (keys, clinic.id))
        plan = "\n".join(str(row[0]) for row in cursor.fetchall())
        assert f"Index Scan using {_UNIQUE} on patient" in plan, plan
        assert "updated_at" not in plan and "Seq Scan on patient" not in plan and "Sort" not in plan, plan
        found = dict(select_in(conn, "patient", "external_id", keys, {"clinic_id": clinic.id}))
        assert sorted(found) == keys[:2_500]
        conn.rollback()


@pytest.mark.parametrize("size", [0, 1, 2_001, 4_500])
def test_select_in_finds_exactly_the_existing_keys(crm: ClinicCRM, clinic: Clinic, size: int) -> None:
    """Both backends (SQLite in 2,000-key slices): existing keys with their ids, new ones absent, other clinics'
    keys not matched, awkward characters and a key that sorts just after an existing one."""
    assert clinic.id is not None
    other = crm.clinics.create("Other", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    stamp = datetime(2026, 3, 2, tzinfo=UTC)
    existing = [f"K{i:05d}" for i in range(0, 2 * size, 2)] + ["a\tb\\c\n\"d',e\\N", "𠮷"]
    with crm.engine.begin() as conn:
        params = [
            dict(zip(_COLUMNS, (clinic.id, key, "A", "B", "zh_TW", "Asia/Taipei", stamp, stamp), strict=True))
            for key in existing
        ]
        conn.execute(_TABLE.insert(), params)
        conn.execute(
            _TABLE.insert(),
            [{**params[0], "clinic_id": other.id, "external_id": "only-other"}],
        )
        stored = conn.execute(_TABLE.select().with_only_columns(_TABLE.c.external_id, _TABLE.c.id))
        ids = {key: ident for key, ident in stored}
        wanted = [f"K{i:05d}" for i in range(2 * size + 3)] + ["a\tb\\c\n\"d',e\\N", "𠮷", "𠮷x", "only-other"]
        found = select_in(conn, "patient", "external_id", wanted, {"clinic_id": clinic.id})
    assert dict(found) == {key: ids[key] for key in existing}
    assert len(found) == len(existing)
