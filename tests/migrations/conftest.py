"""Fixtures of pytest-alembic's standard tests: an empty database of each backend and the shipped migrations."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.config import Config
from pytest_alembic.plugin.fixtures import alembic_runner
from sqlalchemy import Engine, text

from clinic_crm.db import create_crm_engine
from clinic_crm.migrations import alembic_config as shipped_config
from clinic_crm.migrations import downgrade, upgrade

__all__ = ["alembic_runner", "alembic_engine", "alembic_config", "engine", "empty"]


def empty(engine: Engine) -> None:
    """Downgrade ``engine``'s database to nothing, ``alembic_version`` included."""
    downgrade(engine, "base")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on an empty database of the test's backend; migrated again afterwards (PostgreSQL is shared)."""
    eng = create_crm_engine(db_url)
    empty(eng)
    yield eng
    upgrade(eng)
    eng.dispose()


@pytest.fixture
def alembic_engine(engine: Engine) -> Engine:
    """pytest-alembic's database handle: an empty SQLite file or PostgreSQL database (both, parametrised)."""
    return engine


@pytest.fixture
def alembic_config() -> Config:
    """pytest-alembic's configuration: the migrations shipped in the wheel."""
    return shipped_config()
