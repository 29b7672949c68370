"""short name grams: an index of the one- and two-character words of patient names (no trigram)

SQLite: an ``fts5vocab`` table (type ``instance``) over the FTS5 trigram table of revision 0011; a short word is
the prefix of the trigrams it occurs in (see ``clinic_crm.db.name_search``).  Without that table (no FTS5) the
revision logs a warning and builds nothing.
PostgreSQL: ``patient_name_grams(text)``, an IMMUTABLE SQL function giving every one- and two-character substring
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
_GRAMS = f"""
CREATE FUNCTION {_FUNCTION}(document text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
SELECT coalesce(array_agg(DISTINCT gram), '{{}}')
FROM generate_series(1, length(document)) AS start,
     LATERAL (VALUES (substr(document, start, 1)), (substr(document, start, 2))) AS grams (gram)
WHERE strpos(gram, ' ') = 0
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
