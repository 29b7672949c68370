"""Revision 0014 (the short-gram name index) up and down on SQLite and PostgreSQL, and the search before it runs.

A database migrated only to 0013 answers short name searches with a scan (the same patients); after ``upgrade`` the
same engine uses the index. On SQLite without the FTS5 table of 0011 the revision builds nothing and says so.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine, event, inspect, text

from clinic_crm import ClinicCRM
from clinic_crm.db.name_search import FTS_TABLE, GRAMS_FUNCTION, GRAMS_INDEX, VOCAB_TABLE
from clinic_crm.migrations import downgrade, upgrade

NAMES = [("王", "小明"), ("歐陽", "陽"), ("Li", "Yu"), ("Lin", "Mei")]
QUERIES = {"小明": [1], "陽": [2], "li": [3, 4], "LI": [3, 4], "ei": [4], "u": [3], "x": []}


def _objects(engine: Engine) -> set[str]:
    """The short-gram objects present: the vocab table (SQLite) or the function and index (PostgreSQL)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            found = conn.execute(text("SELECT name FROM sqlite_master WHERE name = :n"), {"n": VOCAB_TABLE})
            return set(found.scalars())
        functions = conn.execute(text("SELECT proname FROM pg_proc WHERE proname = :n"), {"n": GRAMS_FUNCTION})
        indexes = {ix["name"] for ix in inspect(conn).get_indexes("patient")} & {GRAMS_INDEX}
        return set(functions.scalars()) | {name for name in indexes if name}


def _searches(crm: ClinicCRM) -> tuple[dict[str, list[int]], list[str]]:
    """Every query's patient ids, and the statements the searches sent."""
    sent: list[str] = []

    def hook(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM patient" in statement:
            sent.append(statement)

    event.listen(crm.engine, "before_cursor_execute", hook)
    try:
        clinic_id = 1
        found = {q: [int(p.id) for p in crm.patients.find(clinic_id, name=q) if p.id] for q in QUERIES}
    finally:
        event.remove(crm.engine, "before_cursor_execute", hook)
    return found, sent


def test_up_and_down(engine: Engine) -> None:
    upgrade(engine, "0013")
    assert _objects(engine) == set()
    upgrade(engine, "0014")
    expected = {VOCAB_TABLE} if engine.dialect.name == "sqlite" else {GRAMS_FUNCTION, GRAMS_INDEX}
    assert _objects(engine) == expected
    downgrade(engine, "0013")
    assert _objects(engine) == set()
    upgrade(engine, "0014")
    assert _objects(engine) == expected


@pytest.mark.parametrize("backend", ["postgres"])  # PostgreSQL's function
def test_grams_of_a_text(engine: Engine) -> None:
    upgrade(engine, "0014")
    with engine.connect() as conn:
        grams = conn.execute(text(f"SELECT {GRAMS_FUNCTION}('ab c王')")).scalar_one()
    assert sorted(grams) == sorted(["a", "ab", "b", "c", "c王", "王"])  # no gram holds a space


def test_a_database_before_0014_scans_then_uses_the_index(engine: Engine) -> None:
    upgrade(engine, "0013")
    with ClinicCRM(engine) as crm:
        clinic = crm.clinics.create("X", timezone="UTC", locale="en_US", region="US")
        assert clinic.id == 1
        for family, given in NAMES:
            crm.patients.register(clinic.id, family_name=family, given_name=given)
        before, sent = _searches(crm)
        assert before == QUERIES
        assert not any(VOCAB_TABLE in s or GRAMS_FUNCTION in s for s in sent)  # no index yet: scanned
        upgrade(engine, "0014")
        after, sent = _searches(crm)
        assert after == QUERIES
        assert any(VOCAB_TABLE in s or GRAMS_FUNCTION in s for s in sent)  # the same engine now uses it


@pytest.mark.parametrize("backend", ["sqlite"])  # SQLite's FTS5
def test_sqlite_without_the_fts5_table_builds_nothing(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    upgrade(engine, "0013")
    with engine.begin() as conn:  # as revision 0011 leaves an SQLite without FTS5
        for suffix in ("insert", "update", "delete"):
            conn.execute(text(f"DROP TRIGGER {FTS_TABLE}_{suffix}"))
        conn.execute(text(f"DROP TABLE {FTS_TABLE}"))
    with caplog.at_level(logging.WARNING, logger="clinic_crm.migrations"):
        upgrade(engine, "0014")
    assert "short name searches will scan" in caplog.text
    assert _objects(engine) == set()
    with ClinicCRM(engine) as crm:
        clinic = crm.clinics.create("X", timezone="UTC", locale="en_US", region="US")
        for family, given in NAMES:
            crm.patients.register(clinic.id, family_name=family, given_name=given)
        assert _searches(crm)[0] == QUERIES
    downgrade(engine, "0013")  # nothing to drop: no error
