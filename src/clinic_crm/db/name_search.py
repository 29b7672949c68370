"""The indexes behind ``crm.patients.find(name=…)``, kept outside the models (see ``docs/patients.md``).

Both databases index one text per patient, ``family || given || ' ' || family || ' ' || given``: every
substring the name search accepts (family and given written together in either order, with or without a
space, or each word in one of the two names) is a substring of it.

* SQLite: an FTS5 table with the ``trigram`` tokenizer (SQLite ≥ 3.34, case-insensitive), rowid = patient id,
  kept in sync by triggers on ``patient`` (revision 0011).  Without FTS5 the table is not created and the
  search scans the clinic's patients.
* PostgreSQL: a GIN ``gin_trgm_ops`` index on ``lower(…)`` of the same text (extension ``pg_trgm``,
  trusted since PostgreSQL 13: a user with CREATE on the database may create it).  Without the extension
  the index is not created; the same query then scans.

Words of one or two characters give no trigram; revision 0014 indexes them too:

* SQLite: an ``fts5vocab`` table of type ``instance`` over the FTS5 table lists every trigram with the rowid it
  occurs in.  A word of one or two characters is the prefix of a trigram wherever it occurs in the text: every
  space-free substring of the text occurs in its first part, ``family || given``, which is followed by at
  least two characters (``' '`` and the family name, or two spaces).  So the candidates are the rowids of the
  terms in ``[word, successor(word))``, the word folded as the tokenizer folds (:func:`fts_fold`).
* PostgreSQL: a GIN index on ``patient_name_grams(lower(…))``, an IMMUTABLE PL/pgSQL function giving every
  one- and two-character substring of the text that holds no space; the query asks ``… @> ARRAY[word, …]``.

Where revision 0014 has not run (or FTS5 is missing), short words are matched without an index (a scan).
Every index only narrows the candidates; the exact match decides.
These objects are not in ``clinic_crm.models``: :func:`is_search_object` tells the schema comparison to skip them.
"""

from __future__ import annotations

import sqlite3
from functools import lru_cache

__all__ = [
    "FTS_TABLE",
    "FTS_TOKENIZE",
    "VOCAB_TABLE",
    "TRGM_INDEX",
    "GRAMS_FUNCTION",
    "GRAMS_INDEX",
    "PG_DOCUMENT",
    "PG_GRAMS",
    "SQLITE_DOCUMENT",
    "MIN_TRIGRAM",
    "fts_fold",
    "term_range",
    "is_search_object",
]

#: The SQLite FTS5 table (its shadow tables are ``<name>_data``, ``_idx``, ``_content``, ``_docsize``, ``_config``).
FTS_TABLE = "patient_name_search"
#: The FTS5 tokenizer of :data:`FTS_TABLE`, as revision 0011 created it (default options: case folded, diacritics kept).
FTS_TOKENIZE = "trigram"
#: The SQLite ``fts5vocab`` table (type ``instance``) over :data:`FTS_TABLE`: ``term``, ``doc`` (the rowid), … .
VOCAB_TABLE = FTS_TABLE + "_vocab"
#: The PostgreSQL GIN index of trigrams.
TRGM_INDEX = "ix_patient_name_trgm"
#: The PostgreSQL function giving the one- and two-character grams of a text (revision 0014).
GRAMS_FUNCTION = "patient_name_grams"
#: The PostgreSQL GIN index of :data:`PG_GRAMS`.
GRAMS_INDEX = "ix_patient_name_grams"
#: The indexed expression on PostgreSQL (a query must use the same expression for the planner to use the index).
PG_DOCUMENT = "lower(family_name || given_name || ' ' || family_name || ' ' || given_name)"
#: The expression :data:`GRAMS_INDEX` indexes (queried with ``@> ARRAY[…]``).
PG_GRAMS = f"{GRAMS_FUNCTION}({PG_DOCUMENT})"
#: The indexed text on SQLite, for the row ``{row}`` of a trigger (``new`` or ``patient``).
SQLITE_DOCUMENT = "{row}.family_name || {row}.given_name || ' ' || {row}.family_name || ' ' || {row}.given_name"
#: Words shorter than this give no trigram: they are matched through the short-gram indexes of revision 0014.
MIN_TRIGRAM = 3

_SURROGATES = range(0xD800, 0xE000)


@lru_cache(maxsize=4096)
def fts_fold(word: str) -> str:
    """``word`` folded as the FTS5 ``trigram`` tokenizer folds the indexed text (asked of SQLite itself).

    The tokenizer folds case with its own Unicode table (``ſ`` → ``s``, ``ς`` → ``σ``, which Python's
    ``str.lower`` keeps), one character for one character; the word is tokenized padded with spaces and the
    leading characters of its first trigram are read back.
    """
    with sqlite3.connect(":memory:") as conn:
        conn.execute(f"CREATE VIRTUAL TABLE fold USING fts5(doc, tokenize = '{FTS_TOKENIZE}')")
        conn.execute("CREATE VIRTUAL TABLE fold_vocab USING fts5vocab(fold, instance)")
        folded = []
        for char in word:  # one character at a time: each gives exactly one trigram
            conn.execute("DELETE FROM fold")
            conn.execute("INSERT INTO fold (rowid, doc) VALUES (1, ?)", (char + "  ",))
            term = conn.execute('SELECT term FROM fold_vocab WHERE "offset" = 0').fetchone()
            folded.append(term[0][0] if term is not None else char)
    conn.close()
    return "".join(folded)


def term_range(word: str) -> tuple[str, str | None]:
    """The FTS5 terms (trigrams) starting with ``word``, folded: ``low <= term < high`` (``high`` None: no bound).

    Terms compare as UTF-8 bytes, which is code point order: ``high`` is ``low`` with its last character
    raised by one (characters that cannot be raised are dropped first).
    """
    low = fts_fold(word)
    stem = low
    while stem:
        point = ord(stem[-1]) + 1
        if point in _SURROGATES:
            point = _SURROGATES.stop
        if point <= 0x10FFFF:
            return low, stem[:-1] + chr(point)
        stem = stem[:-1]
    return low, None


def is_search_object(name: str | None) -> bool:
    """Whether a table, trigger, index or function name belongs to the name search (not modelled; not compared)."""
    return name is not None and (
        name in (TRGM_INDEX, GRAMS_INDEX, GRAMS_FUNCTION, FTS_TABLE) or name.startswith(FTS_TABLE + "_")
    )
