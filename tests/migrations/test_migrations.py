"""The four migration checks of pytest-alembic, on SQLite and PostgreSQL.

single head · upgrade from empty · models equal the migrated schema · full downgrade and upgrade again.
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from clinic_crm import ClinicCRM
from clinic_crm.db import create_crm_engine
from clinic_crm.db.name_search import is_search_object
from clinic_crm.migrations import alembic_config, downgrade, upgrade
from clinic_crm.migrations.rendering import include_name, render_item
from clinic_crm.models import metadata


def _empty(engine: Engine) -> None:
    downgrade(engine, "base")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture
def engine(db_url: str) -> Engine:
    eng = create_crm_engine(db_url)
    _empty(eng)
    yield eng  # type: ignore[misc]
    upgrade(eng)  # leave the shared PostgreSQL test database migrated for the next test
    eng.dispose()


def test_single_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1


def _user_tables(engine: Engine) -> set[str]:
    # the name search's FTS5 tables (SQLite) are not modelled: revision 0011 builds them with its own SQL
    return {name for name in inspect(engine).get_table_names() if not is_search_object(name)} - {"alembic_version"}


def test_upgrade_from_empty(engine: Engine) -> None:
    assert _user_tables(engine) == set()
    upgrade(engine)
    assert _user_tables(engine) == set(metadata.tables)


def test_models_match_migrated_schema(engine: Engine) -> None:
    upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "render_item": render_item,
                "include_name": include_name,
                "target_metadata": metadata,
            },
        )
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_downgrade_and_upgrade_again(engine: Engine) -> None:
    upgrade(engine)
    downgrade(engine, "base")
    assert _user_tables(engine) == set()
    upgrade(engine)
    assert _user_tables(engine) == set(metadata.tables)


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
