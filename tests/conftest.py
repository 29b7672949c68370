"""Shared fixtures: every database test runs on SQLite (file) and on PostgreSQL.

PostgreSQL: ``CLINIC_CRM_TEST_PG`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``)
names a server on which a throwaway database is created for this test run and dropped after.
Without a server the PostgreSQL cases skip — unless ``CLINIC_CRM_REQUIRE_PG=1`` (set by ``.ci/run``),
where a missing server is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from clinic_crm import ClinicCRM
from clinic_crm.db import create_crm_engine
from clinic_crm.migrations import upgrade
from clinic_crm.models import Clinic, metadata
from clinic_crm.testing import make_clinic, throwaway_postgres

PG_ADMIN_URL = os.environ.get("CLINIC_CRM_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("CLINIC_CRM_REQUIRE_PG") == "1"
BACKENDS = ["sqlite", "postgres"]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


def _pg_available() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "no server"
        return f"{type(exc).__name__}"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test run; dropped afterwards."""
    problem = _pg_available()
    if problem is not None:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required (CLINIC_CRM_REQUIRE_PG=1) but not reachable: {problem}")
        pytest.skip(f"no PostgreSQL server at {make_url(PG_ADMIN_URL).host}: {problem}")
    with throwaway_postgres(PG_ADMIN_URL, prefix="clinic_crm_test") as url:
        engine = create_crm_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        cleaner = _CLEANERS.pop(url, None)
        if cleaner is not None:
            cleaner.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is faster)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_crm_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


_CLEANERS: dict[str, Engine] = {}


def _empty_pg(url: str) -> None:
    """Empty every table and restart every sequence (ids start at 1 again).

    One ``DELETE`` per table in foreign-key order and one ``setval`` per sequence, sent as two statements on a
    kept connection: about 5 ms, where ``TRUNCATE … RESTART IDENTITY`` of 38 tables took 0.15–0.7 s per test
    (it replaces every table's and index's files).
    """
    engine = _CLEANERS.get(url)
    if engine is None:
        engine = _CLEANERS[url] = create_engine(url)
    with engine.begin() as conn:
        sequences = (
            conn.exec_driver_sql(
                "SELECT quote_ident(sequence_schema) || '.' || quote_ident(sequence_name)"
                " FROM information_schema.sequences WHERE sequence_schema = current_schema()"
            )
            .scalars()
            .all()
        )
        conn.exec_driver_sql("; ".join(f'DELETE FROM "{table.name}"' for table in reversed(metadata.sorted_tables)))
        if sequences:
            conn.exec_driver_sql("SELECT " + ", ".join(f"setval('{name}', 1, false)" for name in sequences))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this test: ``"sqlite"`` or ``"postgres"``."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty, migrated database on the test's backend."""
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "clinic.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    url = str(request.getfixturevalue("pg_server_url"))
    _empty_pg(url)
    return url


@pytest.fixture
def crm(db_url: str) -> Iterator[ClinicCRM]:
    """A ``ClinicCRM`` on an empty, migrated database of the test's backend."""
    with ClinicCRM(db_url) as facade:
        yield facade


@pytest.fixture
def clinic(crm: ClinicCRM) -> Clinic:
    """A Taiwanese clinic with the default quiet hours (21:00–08:00)."""
    return make_clinic(crm, name="Sunrise Dental")


def count_rows(crm: ClinicCRM, table: str) -> int:
    """How many rows ``table`` holds (to assert that a failed call wrote nothing)."""
    with crm.engine.connect() as conn:
        return int(conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one())
