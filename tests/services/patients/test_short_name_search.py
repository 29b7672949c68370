"""``find(name=…)`` with words of one or two characters, through the short-gram index of revision 0014, both databases.

SQLite reads the trigram table's ``fts5vocab`` (terms starting with the folded word); PostgreSQL a GIN index of every
one- and two-character gram. The index only narrows the candidates: these tests check that it never loses a patient
the rule accepts (words at the start, middle and end of either name, a name that is the word itself, case and
diacritics folded as the scan folds them), that the statement uses the index, and, for arbitrary names and short
queries, that the indexed search returns exactly what a plain model of the rule returns on that database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, inspect, text

from clinic_crm import ClinicCRM
from clinic_crm.db.name_search import GRAMS_INDEX, VOCAB_TABLE, fts_fold, term_range
from clinic_crm.models import Clinic
from tests.services.patients.name_rule import found_ids as _ids
from tests.services.patients.name_rule import matches


def _db_lower(crm: ClinicCRM, value: str) -> str:
    """``lower()`` as the database applies it: ASCII only on SQLite, every letter on PostgreSQL (one by one)."""
    if crm.engine.dialect.name == "sqlite":
        return "".join(c.lower() if c.isascii() else c for c in value)
    return "".join(c.lower() for c in value)


def _model(crm: ClinicCRM, family: str, given_name: str, query: str) -> bool:
    """The rule of ``find(name=…)``, lowering the names as the database does."""
    return matches(family, given_name, query, lambda value: _db_lower(crm, value))


@contextmanager
def _statements(crm: ClinicCRM) -> Iterator[list[tuple[str, Any]]]:
    """The ``SELECT … FROM patient`` statements the library sends, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def hook(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if statement.startswith("SELECT") and "FROM patient" in statement:
            seen.append((statement, parameters))

    event.listen(crm.engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(crm.engine, "before_cursor_execute", hook)


def test_the_short_gram_index_exists_after_migrate(crm: ClinicCRM) -> None:
    with crm.engine.connect() as conn:
        if crm.engine.dialect.name == "sqlite":
            assert conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = :n"), {"n": VOCAB_TABLE}).first()
        else:
            assert GRAMS_INDEX in {ix["name"] for ix in inspect(conn).get_indexes("patient")}


NAMES = [
    ("王", "小明"),
    ("歐陽", "陽"),  # the word is the whole given name and ends the family name
    ("李", "大小明"),  # the word ends the given name
    ("陳", "明"),  # one character each: the shortest text there is
    ("Li", "Yu"),
    ("Nguyễn", "Lí"),
    ("Müller", "Ab"),
    ("Olivia", "Ng"),
    ("Νίκος", "Weiſs"),  # characters FTS5 folds where Python's lower() keeps them: ς → σ, ſ → s
]


@pytest.mark.parametrize(
    "query",
    ["小明", "明", "陽", "歐", "王", "大小", "li", "LI", "Li", "i", "yu", "u", "ab", "b", "ng", "NG", "g", "ễ", "í",
     "ü", "mü", "er", "r", "ia", "a", "o", "陳 明", "li yu", "y l", "zz", "x", "小王",
     "ς", "ος", "σ", "ſ", "iſ", "ſs", "s", "Ν"],
)  # fmt: skip
def test_short_words_find_what_the_rule_finds(crm: ClinicCRM, clinic: Clinic, query: str) -> None:
    registered = [crm.patients.register(clinic.id, family_name=f, given_name=g) for f, g in NAMES]
    expected = [p.id for p in registered if _model(crm, p.family_name, p.given_name, query)]
    assert _ids(crm, clinic, query) == expected


def test_short_words_at_the_start_middle_and_end_of_either_name(crm: ClinicCRM, clinic: Clinic) -> None:
    lin = crm.patients.register(clinic.id, family_name="Lin", given_name="Mei")
    ming = crm.patients.register(clinic.id, family_name="王", given_name="小明")
    only = crm.patients.register(clinic.id, family_name="Li", given_name="X")
    assert _ids(crm, clinic, "li") == [lin.id, only.id]  # start of a family name; a family name that is the word
    assert _ids(crm, clinic, "in") == [lin.id]  # end of the family name
    assert _ids(crm, clinic, "ei") == [lin.id]  # end of the given name, the end of the indexed text
    assert _ids(crm, clinic, "x") == [only.id]  # a given name of one character, the last of the text
    assert _ids(crm, clinic, "明") == [ming.id]
    assert _ids(crm, clinic, "王小") == [ming.id]  # across family and given
    assert _ids(crm, clinic, "nm") == [lin.id]  # family and given written together
    assert _ids(crm, clinic, "LI X") == [only.id]  # every word in one of the names
    assert _ids(crm, clinic, "%") == []  # LIKE wildcards are text
    assert _ids(crm, clinic, "_") == []


def test_the_index_follows_updates(crm: ClinicCRM, clinic: Clinic) -> None:
    a = crm.patients.register(clinic.id, family_name="陳", given_name="怡君")
    assert _ids(crm, clinic, "怡") == [a.id]
    crm.patients.update(a.id, given_name="美玲")
    assert _ids(crm, clinic, "怡") == []
    assert _ids(crm, clinic, "美玲") == [a.id]


def test_folding_agrees_with_the_tokenizer() -> None:
    # FTS5 folds case with its own table, one character for one: the word must be folded the same way
    assert fts_fold("Ab") == "ab"
    assert fts_fold("ς") == "σ"  # Python's lower() keeps the final sigma; the tokenizer does not
    assert fts_fold("ſ") == "s"
    assert fts_fold("ü") == "ü"  # diacritics are kept (revision 0011's tokenizer has no remove_diacritics)
    assert fts_fold("小明") == "小明"
    assert term_range("li") == ("li", "lj")
    assert term_range("\U0010ffff") == ("\U0010ffff", None)
    assert term_range("a\U0010ffff") == ("a\U0010ffff", "b")
    assert term_range("\ud7ff") == ("\ud7ff", "\ue000")  # no surrogate as a bound


def test_the_statement_uses_the_short_gram_index(crm: ClinicCRM, clinic: Clinic) -> None:
    for i in range(30):
        crm.patients.register(clinic.id, family_name="王", given_name=f"小明{i}")
    with _statements(crm) as seen:
        assert len(_ids(crm, clinic, "小明")) == 30
    statement, parameters = seen[-1]
    with crm.engine.connect() as conn:
        if crm.engine.dialect.name == "sqlite":
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
            assert VOCAB_TABLE in plan
        else:  # other patients of the clinic, so that its clinic index is no longer the better choice
            conn.exec_driver_sql(
                "INSERT INTO patient (clinic_id, family_name, given_name, locale, timezone, created_at, updated_at)"
                " SELECT %(clinic)s, '林', '家豪' || n, 'zh_TW', 'Asia/Taipei', now(), now()"
                " FROM generate_series(1, 20000) AS n",
                {"clinic": clinic.id},
            )
            # the planner counts the GIN index's pending list, which autovacuum empties when it happens to run:
            # empty it here so that the plan does not depend on that timing
            conn.exec_driver_sql(f"SELECT gin_clean_pending_list('{GRAMS_INDEX}'::regclass)")
            conn.exec_driver_sql("ANALYZE patient")
            plan = " ".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
            assert GRAMS_INDEX in plan, plan


# letters whose lower-casing each database agrees on with Python letter by letter (see _db_lower), CJK, and
# characters the FTS5 tokenizer folds differently from Python's lower() (ſ, ς)
_ALPHABET = "aAbBiIlLüÜéſςσ王小明陽"
_NAME = st.text(alphabet=_ALPHABET + " ", min_size=1, max_size=5).map(str.strip).filter(bool)
_SHORT_QUERY = st.lists(st.text(alphabet=_ALPHABET, min_size=1, max_size=2), min_size=1, max_size=2).map(" ".join)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(people=st.lists(st.tuples(_NAME, _NAME), min_size=1, max_size=6), query=_SHORT_QUERY)
def test_short_queries_equal_the_rule(crm: ClinicCRM, people: list[tuple[str, str]], query: str) -> None:
    clinic = crm.clinics.create("Property", timezone="UTC", locale="en_US", region="US")
    registered = [crm.patients.register(clinic.id, family_name=f, given_name=g) for f, g in people]
    expected = [p.id for p in registered if _model(crm, p.family_name, p.given_name, query)]
    assert _ids(crm, clinic, query) == expected
