"""The trigram index behind ``crm.patients.find(name=…)``, kept outside the models (see ``docs/patients.md``).

Both databases index one text per patient, ``family || given || ' ' || family || ' ' || given``: every
substring the name search accepts (family and given written together in either order, with or without a
space, or each word in one of the two names) is a substring of it.

* SQLite: an FTS5 table with the ``trigram`` tokenizer (SQLite ≥ 3.34, case-insensitive), rowid = patient id,
  kept in sync by triggers on ``patient`` (revision 0011).  Without FTS5 the table is not created and the
  search scans the clinic's patients.
* PostgreSQL: a GIN ``gin_trgm_ops`` index on ``lower(…)`` of the same text (extension ``pg_trgm``,
  trusted since PostgreSQL 13: a user with CREATE on the database may create it).  Without the extension
  the index is not created; the same query then scans.

The index only narrows the candidates (words of three characters or more); the exact match decides.
These objects are not in ``clinic_crm.models``: :func:`is_search_object` tells the schema comparison to skip them.
"""

from __future__ import annotations

__all__ = ["FTS_TABLE", "TRGM_INDEX", "PG_DOCUMENT", "SQLITE_DOCUMENT", "MIN_TRIGRAM", "is_search_object"]

#: The SQLite FTS5 table (its shadow tables are ``<name>_data``, ``_idx``, ``_content``, ``_docsize``, ``_config``).
FTS_TABLE = "patient_name_search"
#: The PostgreSQL GIN index.
TRGM_INDEX = "ix_patient_name_trgm"
#: The indexed expression on PostgreSQL (a query must use the same expression for the planner to use the index).
PG_DOCUMENT = "lower(family_name || given_name || ' ' || family_name || ' ' || given_name)"
#: The indexed text on SQLite, for the row ``{row}`` of a trigger (``new`` or ``patient``).
SQLITE_DOCUMENT = "{row}.family_name || {row}.given_name || ' ' || {row}.family_name || ' ' || {row}.given_name"
#: Words shorter than this give no trigram: they are matched without the index.
MIN_TRIGRAM = 3


def is_search_object(name: str | None) -> bool:
    """Whether a table, trigger or index name belongs to the name search (not modelled; skipped when comparing)."""
    return name is not None and (name == TRGM_INDEX or name == FTS_TABLE or name.startswith(FTS_TABLE + "_"))
