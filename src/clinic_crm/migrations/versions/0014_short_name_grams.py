"""short name grams: an index of the one- and two-character words of patient names (no trigram)

SQLite: an ``fts5vocab`` table (type ``instance``) over the FTS5 trigram table of revision 0011; a short word is
the prefix of the trigrams it occurs in (see ``clinic_crm.db.name_search``).  Without that table (no FTS5) the
revision logs a warning and builds nothing.
PostgreSQL: ``patient_name_grams(text)``, an IMMUTABLE PL/pgSQL function giving every one- and two-character substring
without a space, and a GIN index of it over the lowered name text (the text the trigram index of 0011 indexes).

Until this revision runs, ``find(name=…)`` answers words shorter than three characters with a scan.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

import logging
from collections.abc import Sequence

from alembic import op

import clinic_crm.models._base  # noqa: F401

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LOG = logging.getLogger("clinic_crm.migrations")
_FTS = "patient_name_search"
_VOCAB = "patient_name_search_vocab"
_FUNCTION = "patient_name_grams"
_INDEX = "ix_patient_name_grams"
_PG_DOCUMENT = "lower(family_name || given_name || ' ' || family_name || ' ' || given_name)"
# PL/pgSQL over the text split into characters: about three times faster per row than a set-returning SQL
# function (generate_series, substr, array_agg), which halves the index build and the upkeep per inserted row.
# Repeated grams are kept (GIN stores each key once).
_GRAMS = f"""
CREATE FUNCTION {_FUNCTION}(document text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    chars text[] := string_to_array(document, NULL);
    grams text[] := array_remove(chars, ' ');
BEGIN
    FOR i IN 1 .. cardinality(chars) - 1 LOOP
        IF chars[i] <> ' ' AND chars[i + 1] <> ' ' THEN
            grams := grams || (chars[i] || chars[i + 1]);
        END IF;
    END LOOP;
    RETURN grams;
END
$$
"""


def upgrade() -> None:
    """Apply this revision."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        found = bind.exec_driver_sql(f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{_FTS}'").first()
        if found is None:
            _LOG.warning("no FTS5 name index (revision 0011 skipped it): short name searches will scan")
            return
        op.execute(f"CREATE VIRTUAL TABLE {_VOCAB} USING fts5vocab({_FTS}, instance)")
    elif bind.dialect.name == "postgresql":
        op.execute(_GRAMS)
        op.execute(f"CREATE INDEX {_INDEX} ON patient USING gin ({_FUNCTION}({_PG_DOCUMENT}))")


def downgrade() -> None:
    """Revert this revision."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(f"DROP TABLE IF EXISTS {_VOCAB}")
    elif bind.dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {_INDEX}")
        op.execute(f"DROP FUNCTION IF EXISTS {_FUNCTION}(text)")
