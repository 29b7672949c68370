"""``find(name=…)`` through the trigram index (FTS5 trigram on SQLite, pg_trgm GIN on PostgreSQL), both databases.

The index only narrows the candidates; these tests pin the semantics (case-insensitive, family/given/both in either
order, CJK without spaces, words shorter than three characters, merged records left out) and check, for arbitrary
names and queries, that the indexed search returns exactly what a plain model of the rule returns.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, text

from clinic_crm import ClinicCRM
from clinic_crm.db.name_search import FTS_TABLE, TRGM_INDEX
from clinic_crm.models import Clinic
from tests.services.patients.name_rule import found_ids as _ids
from tests.services.patients.name_rule import matches

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_the_index_exists_after_migrate(crm: ClinicCRM) -> None:
    with crm.engine.connect() as conn:
        if crm.engine.dialect.name == "sqlite":
            assert conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = :n"), {"n": FTS_TABLE}).first()
        else:
            assert TRGM_INDEX in {ix["name"] for ix in inspect(conn).get_indexes("patient")}


def test_name_search_semantics(crm: ClinicCRM, clinic: Clinic) -> None:
    ming = crm.patients.register(clinic.id, family_name="王", given_name="小明")
    amy = crm.patients.register(clinic.id, family_name="Wang", given_name="Amy")
    jo = crm.patients.register(clinic.id, family_name="O'Brien-Smith", given_name="Joanna")
    assert _ids(crm, clinic, "王小明") == [ming.id]  # CJK, family + given without a space
    assert _ids(crm, clinic, "小明") == [ming.id]  # two characters: no trigram, the short-gram index (0014)
    assert _ids(crm, clinic, "王") == [ming.id]
    assert _ids(crm, clinic, "amy wang") == [amy.id]  # given family
    assert _ids(crm, clinic, "WANG AMY") == [amy.id]  # family given, any case
    assert _ids(crm, clinic, "wangamy") == [amy.id]
    assert _ids(crm, clinic, "ang") == [amy.id]
    assert _ids(crm, clinic, "joanna o'brien") == [jo.id]
    assert _ids(crm, clinic, "smith jo") == [jo.id]  # every word in one of the names
    assert _ids(crm, clinic, "100%") == []
    assert _ids(crm, clinic, '"wan"') == []  # quotes are text, not FTS syntax
    assert _ids(crm, clinic, "wan_") == []  # LIKE wildcards are text
    other = crm.clinics.create("Other", timezone="UTC", locale="en_US", region="US")
    crm.patients.register(other.id, family_name="Wang", given_name="Amy")
    assert _ids(crm, clinic, "amy") == [amy.id]  # one clinic's patients only


def test_the_index_follows_updates_merges_and_erasure(crm: ClinicCRM, clinic: Clinic) -> None:
    a = crm.patients.register(clinic.id, family_name="Chen", given_name="Yijun")
    b = crm.patients.register(clinic.id, family_name="Chen", given_name="Yi-Jun")
    crm.patients.update(a.id, given_name="Meiling")
    assert _ids(crm, clinic, "yijun") == []
    assert _ids(crm, clinic, "chen meiling") == [a.id]
    crm.patients.merge(a.id, b.id, at=T0, by="front desk")
    assert _ids(crm, clinic, "chen") == [a.id]  # the merged record is left out
    crm.patients.erase(a.id, at=T0, by="dpo", reason="request")
    assert _ids(crm, clinic, "meiling") == []


def test_find_by_name_writes_one_audit_event_per_patient(crm: ClinicCRM, clinic: Clinic) -> None:
    ids = [crm.patients.register(clinic.id, family_name="Lin", given_name=f"Mei{i}").id for i in range(3)]
    assert _ids(crm, clinic, "lin mei") == ids
    for pid in ids:
        assert [e.action for e in crm.audit.for_patient(int(pid))] == ["create", "read"]
    assert crm.audit.verify()


# names whose lower-casing is the same in Python, SQLite (ASCII only) and PostgreSQL: ASCII letters and CJK
_NAME = st.text(alphabet="abcABC王小明 ", min_size=1, max_size=6).map(str.strip).filter(bool)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(people=st.lists(st.tuples(_NAME, _NAME), min_size=1, max_size=6), query=_NAME)
def test_indexed_search_equals_the_rule(crm: ClinicCRM, people: list[tuple[str, str]], query: str) -> None:
    clinic = crm.clinics.create("Property", timezone="UTC", locale="en_US", region="US")
    registered = [crm.patients.register(clinic.id, family_name=f, given_name=g) for f, g in people]
    expected = [p.id for p in registered if matches(p.family_name, p.given_name, query)]
    assert _ids(crm, clinic, query) == expected


@pytest.mark.parametrize("query", ["ab", "abc", "abcd"])
def test_short_and_long_queries_agree_with_a_scan(crm: ClinicCRM, clinic: Clinic, query: str) -> None:
    names = [("Abcd", "Efg"), ("Xab", "Cy"), ("Zz", "Ab")]
    registered = [crm.patients.register(clinic.id, family_name=f, given_name=g) for f, g in names]
    expected = [p.id for p in registered if matches(p.family_name, p.given_name, query)]
    assert expected  # each query matches someone: the check can fail
    assert _ids(crm, clinic, query) == expected
