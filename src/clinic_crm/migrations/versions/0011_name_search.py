"""name search: a trigram index of patient names (SQLite FTS5 trigram, PostgreSQL pg_trgm GIN)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

Where the index cannot be built (an SQLite without FTS5, a PostgreSQL where ``CREATE EXTENSION pg_trgm`` is
not allowed), the revision logs a warning and builds nothing: ``find(name=…)`` then scans, with the same results.
Running it again later (downgrade to 0010, upgrade) builds the index once the extension is there.
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import clinic_crm.models._base  # noqa: F401

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LOG = logging.getLogger("clinic_crm.migrations")
_FTS = "patient_name_search"
_INDEX = "ix_patient_name_trgm"
_PG_DOCUMENT = "lower(family_name || given_name || ' ' || family_name || ' ' || given_name)"


def _doc(row: str) -> str:
    return f"{row}.family_name || {row}.given_name || ' ' || {row}.family_name || ' ' || {row}.given_name"


def _sqlite_upgrade(bind: sa.Connection) -> None:
    options = {row[0] for row in bind.exec_driver_sql("PRAGMA compile_options")}
    if "ENABLE_FTS5" not in options:
        _LOG.warning("this SQLite has no FTS5: patient name search will scan (no trigram index)")
        return
    op.execute(f"CREATE VIRTUAL TABLE {_FTS} USING fts5(doc, tokenize = 'trigram')")
    op.execute(f"INSERT INTO {_FTS} (rowid, doc) SELECT id, {_doc('patient')} FROM patient")
    op.execute(
        f"CREATE TRIGGER {_FTS}_insert AFTER INSERT ON patient BEGIN "
        f"INSERT INTO {_FTS} (rowid, doc) VALUES (new.id, {_doc('new')}); END"
    )
    op.execute(
        f"CREATE TRIGGER {_FTS}_update AFTER UPDATE OF id, family_name, given_name ON patient BEGIN "
        f"DELETE FROM {_FTS} WHERE rowid = old.id; "
        f"INSERT INTO {_FTS} (rowid, doc) VALUES (new.id, {_doc('new')}); END"
    )
    op.execute(
        f"CREATE TRIGGER {_FTS}_delete AFTER DELETE ON patient BEGIN DELETE FROM {_FTS} WHERE rowid = old.id; END"
    )


def _postgres_upgrade(bind: sa.Connection) -> None:
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError:
        _LOG.warning(
            "CREATE EXTENSION pg_trgm was refused (it needs PostgreSQL 13+ and CREATE on the database, or a "
            "superuser): patient name search will scan; create the extension and re-run this revision"
        )
        return
    op.execute(f"CREATE INDEX {_INDEX} ON patient USING gin ({_PG_DOCUMENT} gin_trgm_ops)")


def upgrade() -> None:
    """Apply this revision."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _sqlite_upgrade(bind)
    elif bind.dialect.name == "postgresql":
        _postgres_upgrade(bind)


def downgrade() -> None:
    """Revert this revision (the pg_trgm extension stays: other schemas may use it)."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for suffix in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {_FTS}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {_FTS}")
    elif bind.dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {_INDEX}")
