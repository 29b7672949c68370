"""Migrations as the facade and host applications run them, on SQLite and PostgreSQL.

pytest-alembic's standard checks (single head, upgrade from empty, models equal the DDL, up/down) are in
``test_pytest_alembic.py``; the ``engine`` fixture (an empty database) is in ``conftest.py``.
"""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from clinic_crm import ClinicCRM
from clinic_crm.db.name_search import is_search_object
from clinic_crm.migrations import alembic_config
from clinic_crm.models import metadata


def _user_tables(engine: Engine) -> set[str]:
    # the name search's FTS5 tables (SQLite) are not modelled: revisions 0011 and 0014 build them with their own SQL
    return {name for name in inspect(engine).get_table_names() if not is_search_object(name)} - {"alembic_version"}


def test_migrate_is_idempotent(db_url: str) -> None:
    with ClinicCRM(db_url) as crm:
        crm.migrate()
        crm.migrate()
        clinic = crm.clinics.create("X", timezone="UTC", locale="en_US", region="US")
        assert clinic.id is not None


def test_migrate_memory_database() -> None:
    with ClinicCRM("sqlite://") as crm:
        crm.migrate()
        crm.clinics.create("X", timezone="UTC", locale="en_US", region="US")
        assert _user_tables(crm.engine) == set(metadata.tables)


def test_env_accepts_a_connection_in_config_attributes(engine: Engine) -> None:
    """The way pytest-alembic and host applications embed migrations: a connection they own."""
    from alembic import command

    config = alembic_config()
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        conn.commit()
    assert _user_tables(engine) == set(metadata.tables)
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
        conn.commit()
    assert _user_tables(engine) == set()
