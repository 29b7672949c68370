"""Ingest mentions: validated per row in Python, written per chunk with one bulk upsert.

Each chunk of valid rows is written with ``INSERT … ON CONFLICT (clinic_id, source, external_id) DO UPDATE``:

* on PostgreSQL by a binary ``COPY`` of the chunk into a temporary table (dropped at commit, emptied before
  each chunk) and **one statement** ``INSERT … SELECT`` from it (three round trips per chunk, values dumped by
  psycopg's C code); its ``RETURNING id, (xmax = 0)`` tells which rows were created (a row
  inserted by this statement has no locker; one updated through ``ON CONFLICT`` carries the lock of its
  conflict check), so no look-up of the stored keys is needed;
* on SQLite (in-process, no round trips) as one driver-level ``executemany``, after one look-up of the keys
  already stored (to count created/updated and decide keyword alerts).

Keyword alerts, when keywords matched new mentions, cost one insert of their alerts (and on SQLite one look-up
of the new ids).

Semantics:

* a new ``(source, external_id)`` creates a mention; one already stored updates its ``text`` and ``rating``
  (and the ``sentiment`` they give, with the clinic's negative terms of now), and its ``replied_at`` when the row
  carries one; ``posted_at``, ``author`` and ``url`` stay as first ingested;
* rows apply in order: a key seen earlier in the same call is updated by the later row;
* a keyword alert opens only for a mention's first ingestion (the text of that first row decides);
* a bad row is reported as ``RowError(row, field, reason)`` (1-based) and the others land.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from clinic_crm.db.copy import copy_rows
from clinic_crm.errors import ValidationError
from clinic_crm.models import Alert, Clinic, Mention
from clinic_crm.services._common import get_or_404, optional_text, require_text
from clinic_crm.services.imports import RowError
from clinic_crm.services.reputation.sentiment import TermMatcher, fold, sentiment_of
from clinic_crm.services.reputation.sources import google_rows
from clinic_crm.services.reputation.watch import matchers
from clinic_crm.values import MAX_YEAR, MIN_YEAR, aware, utc

__all__ = ["IngestReport", "MENTION_FIELDS", "CHUNK_SIZE", "ingest", "ingest_google_reviews"]

#: The keys a mention row may have (``replied_at`` is optional, set by sources that know of a reply).
MENTION_FIELDS = ("source", "external_id", "text", "posted_at", "rating", "author", "url", "replied_at")
#: Rows written together.
CHUNK_SIZE = 5000
TEXT_MAX = 20000

_TABLE = Mention.__table__  # type: ignore[attr-defined]
_ALERT = Alert.__table__  # type: ignore[attr-defined]
_FIELD_SET = frozenset(MENTION_FIELDS)
_REQUIRED = ("source", "external_id", "text", "posted_at")
_COLUMNS = (
    "clinic_id",
    "source",
    "external_id",
    "text",
    "rating",
    "posted_at",
    "sentiment",
    "author",
    "url",
    "replied_at",
    "created_at",
    "updated_at",
)
#: PostgreSQL: each chunk is copied (binary ``COPY``) into this temporary table, then upserted from it.
_STAGE = "pg_temp.mention_ingest"
_STAGED = _COLUMNS[1:10]  # source … replied_at
_STAGED_TYPES = ("varchar", "varchar", "text", "int4", "timestamptz", "varchar", "varchar", "varchar", "timestamptz")
_CREATE_STAGE = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE.split('.')[1]} "
    f"({', '.join(f'{name} {kind}' for name, kind in zip(_STAGED, _STAGED_TYPES, strict=True))}) ON COMMIT DROP"
)
_LOOKUP_SLICE = 2000  # external ids per SELECT … IN (…), well below SQLite's parameter limit
_LOOKUP_SQLITE = "SELECT external_id, id FROM mention WHERE clinic_id = ? AND source = ? AND external_id IN ({marks})"


@dataclass(slots=True)
class IngestReport:
    """What an ingest did: mentions created, mentions updated, rows rejected (one ``RowError`` each)."""

    created: int = 0
    updated: int = 0
    rejected: list[RowError] = field(default_factory=list)


_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError("text must be a string ('' for a rating without a comment)", field="text")
    if _BAD_CHARS.search(value):
        raise ValidationError("text must not contain NUL or lone surrogates", field="text")
    text = value if unicodedata.is_normalized("NFC", value) else unicodedata.normalize("NFC", value)
    if len(text) > TEXT_MAX:
        raise ValidationError(f"text must be at most {TEXT_MAX} characters", field="text")
    return text


def _optional(value: object, name: str, max_length: int) -> str | None:
    if isinstance(value, str) and not value.strip():
        return None
    return optional_text(value, name, max_length=max_length)


def _clean(row: object) -> dict[str, Any]:
    """The row's values ready to store (without clinic and stamps), or ``ValidationError`` naming the field.

    :func:`_clean_fast` takes the common well-formed row; anything it does not vouch for goes through
    :func:`_clean_checked`, which gives the value or the exact error.
    """
    cleaned = _clean_fast(row)
    return _clean_checked(row) if cleaned is None else cleaned


def _clean_fast(row: object) -> dict[str, Any] | None:
    """What :func:`_clean_checked` returns for ``row`` when ``row`` is plainly valid, else ``None`` (check it then).

    One pass with exact types and one search for NUL and surrogates over the row's joined strings, in place of a
    check per field; every condition under which the checked path would raise, or return something else, falls
    back (a ``str`` subclass, an ``int`` external id, text not in NFC, a blank author or url, …).
    """
    if type(row) is not dict or not _FIELD_SET.issuperset(row):
        return None
    try:
        source, external, text, posted = row["source"], row["external_id"], row["text"], row["posted_at"]
    except KeyError:
        return None
    rating, author, url, replied = row.get("rating"), row.get("author"), row.get("url"), row.get("replied_at")
    if (
        type(source) is not str
        or type(external) is not str
        or type(text) is not str
        or (author is not None and type(author) is not str)
        or (url is not None and type(url) is not str)
        or (rating is not None and (type(rating) is not int or not 1 <= rating <= 5))
        or type(posted) is not datetime
        or (replied is not None and type(replied) is not datetime)
    ):
        return None
    source, external = source.strip(), external.strip()
    if author is not None:
        author = author.strip()
        if not author or len(author) > 200:
            return None
    if url is not None:
        url = url.strip()
        if not url or len(url) > 2000:
            return None
    if (
        not source
        or len(source) > 40
        or not external
        or len(external) > 200
        or len(text) > TEXT_MAX
        or _BAD_CHARS.search(f"{source}\x01{external}\x01{text}\x01{author or ''}\x01{url or ''}") is not None
        or not unicodedata.is_normalized("NFC", text)
    ):
        return None
    posted = _fast_aware(posted)
    if posted is None:
        return None
    if replied is not None:
        replied = _fast_aware(replied)
        if replied is None:
            return None
    return {
        "source": source,
        "external_id": external,
        "text": text,
        "posted_at": posted,
        "rating": rating,
        "author": author,
        "url": url,
        "replied_at": replied,
    }


def _fast_aware(value: datetime) -> datetime | None:
    """``values.aware(value)`` for an aware ``datetime`` within the accepted years, else ``None``."""
    zone = value.tzinfo
    if zone is None or not MIN_YEAR <= value.year <= MAX_YEAR:
        return None
    if zone is UTC:
        return value
    if zone.utcoffset(value) is None:
        return None
    return value.astimezone(UTC)


def _clean_checked(row: object) -> dict[str, Any]:
    """:func:`_clean` field by field with the shared checks: the value, or the ``ValidationError`` naming the field."""
    if not isinstance(row, Mapping):
        raise ValidationError("each mention must be a mapping of field name to value", field="row")
    if not _FIELD_SET.issuperset(row):
        name = next(str(key) for key in row if key not in _FIELD_SET)
        raise ValidationError(f"unknown field; expected some of {', '.join(MENTION_FIELDS)}", field=name)
    for key in _REQUIRED:
        if key not in row:
            raise ValidationError(f"{key} is required", field=key)
    external = row["external_id"]
    if type(external) is int:
        external = str(external)
    rating = row.get("rating")
    if rating is not None and (type(rating) is not int or not 1 <= rating <= 5):
        raise ValidationError("rating must be an integer from 1 to 5, or None", field="rating")
    replied = row.get("replied_at")
    author = row.get("author")
    url = row.get("url")
    return {
        "source": require_text(row["source"], "source", max_length=40),
        "external_id": require_text(external, "external_id", max_length=200),
        "text": _text(row["text"]),
        "posted_at": aware(row["posted_at"], "posted_at"),
        "rating": rating,
        "author": None if author is None else _optional(author, "author", 200),
        "url": None if url is None else _optional(url, "url", 2000),
        "replied_at": None if replied is None else aware(replied, "replied_at"),
    }


def ingest(
    session: Session,
    clinic_id: int,
    mentions: Iterable[Mapping[str, Any]],
    *,
    now: datetime | None = None,
) -> IngestReport:
    """Store mentions of a clinic (reviews, posts, articles), creating or updating them; open keyword alerts.

    Each mention: ``source``, ``external_id``, ``text`` (``""`` allowed), ``posted_at`` (aware), and optionally
    ``rating`` (1–5), ``author``, ``url``, ``replied_at`` (aware).  Unique per ``(clinic, source,
    external_id)``: ingesting it again updates its text and rating.

    Args:
        clinic_id: the clinic mentioned.
        mentions: any iterable of mappings; consumed once, in chunks.
        now: the stamp of the rows and of the alerts opened (default: now).

    Returns:
        The :class:`IngestReport`; a bad row (a naive ``posted_at`` included) is in ``rejected`` as
        ``RowError(row, field, reason)`` (1-based) and the others land.

    Raises:
        NotFound: no such clinic.
        NaiveDatetimeError: ``now`` without a time zone.
    """
    clinic = get_or_404(session, Clinic, clinic_id)
    stamp = utc(now)
    session.flush()
    keywords, negatives = matchers(session, clinic_id)
    writer = _Writer(session, clinic.id or clinic_id, stamp, keywords, negatives)
    report = IngestReport()
    chunk: list[tuple[int, dict[str, Any]]] = []
    for number, row in enumerate(mentions, 1):
        try:
            chunk.append((number, _clean(row)))
        except ValidationError as exc:
            report.rejected.append(RowError(number, exc.field or "row", str(exc)))
            continue
        if len(chunk) >= CHUNK_SIZE:
            writer.write(chunk, report)
            chunk = []
    writer.write(chunk, report)
    return report


def ingest_google_reviews(
    session: Session, clinic_id: int, payload: Mapping[str, Any], *, now: datetime | None = None
) -> IngestReport:
    """Ingest a Google Business Profile ``reviews.list`` response (source ``"google"``).

    ``external_id`` = ``reviewId``, ``posted_at`` = ``createTime``, ``text`` = ``comment`` (``""`` without one),
    ``rating`` from ``starRating`` ``"ONE"``…``"FIVE"`` (``"STAR_RATING_UNSPECIFIED"`` → no rating), ``author`` =
    ``reviewer.displayName``, ``replied_at`` = ``reviewReply.updateTime``.  Times are RFC 3339.

    Returns:
        The :class:`IngestReport` (a review with a bad field is rejected alone; its ``RowError.field`` names
        the mention field it would fill).

    Raises:
        NotFound: no such clinic.
        ValidationError: ``payload`` is not a ``reviews.list`` object (field ``"payload"``); nothing is stored.
    """
    rows = list(google_rows(payload))  # a malformed payload is refused before anything is written
    return ingest(session, clinic_id, rows, now=now)


class _Writer:
    """Writes chunks of cleaned rows of one clinic with one bulk upsert each."""

    def __init__(
        self, session: Session, clinic_id: int, stamp: datetime, keywords: TermMatcher, negatives: TermMatcher
    ) -> None:
        self.session = session
        self.clinic_id = clinic_id
        self.stamp = stamp
        self.keywords = keywords
        self.negatives = negatives
        dialect = session.connection().dialect
        self.postgres = dialect.name == "postgresql"
        # SQLite: driver-level executemany of one plain statement: SQLAlchemy's per-row parameter handling
        # costs more than the insert.  Every instant still goes through the column type's own bind processor
        # (or a verified equivalent), so what is stored is identical.  PostgreSQL: the chunk copied in binary into
        # the stage, the instants as the aware UTC datetimes ``values.aware`` made, which ``timestamptz`` stores
        # as given; then one statement per chunk from the stage.
        quote = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        updated = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in ("text", "rating", "sentiment", "updated_at"))
        self.sql = (
            f"INSERT INTO mention ({', '.join(map(quote, _COLUMNS))}) VALUES ({', '.join([mark] * len(_COLUMNS))}) "
            f"ON CONFLICT (clinic_id, source, external_id) DO UPDATE SET {updated}, "
            f"replied_at = coalesce(excluded.replied_at, mention.replied_at)"
        )
        self.staged = False
        self.sql_pg = (
            f"INSERT INTO mention ({', '.join(map(quote, _COLUMNS))}) "
            f"SELECT %s, {', '.join(_STAGED)}, %s, %s FROM {_STAGE} "
            f"ON CONFLICT (clinic_id, source, external_id) DO UPDATE SET {updated}, "
            "replied_at = coalesce(excluded.replied_at, mention.replied_at) "
            "RETURNING source, external_id, id, (xmax = 0)"
        )
        processor = _TABLE.c.posted_at.type.dialect_impl(dialect).bind_processor(dialect)
        self.instant: Callable[[Any], Any] = _fast_instant(processor) if processor is not None else _same
        self.stamp_value = self.instant(stamp)

    def _existing(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """SQLite: ``{(source, external_id): id}`` of the stored mentions among ``keys`` (per source, index seeks)."""
        by_source: dict[str, list[str]] = {}
        for source, external_id in keys:
            by_source.setdefault(source, []).append(external_id)
        found: dict[tuple[str, str], int] = {}
        connection = self.session.connection()
        for source, ids in by_source.items():
            for start in range(0, len(ids), _LOOKUP_SLICE):
                part = ids[start : start + _LOOKUP_SLICE]
                sql = _LOOKUP_SQLITE.format(marks=", ".join("?" * len(part)))
                rows = connection.exec_driver_sql(sql, (self.clinic_id, source, *part))
                found.update(((source, external_id), ident) for external_id, ident in rows)
        return found

    def write(self, chunk: list[tuple[int, dict[str, Any]]], report: IngestReport) -> None:
        """Upsert one chunk of cleaned rows (in order); count the outcome in ``report``; open keyword alerts."""
        if not chunk:
            return
        by_key: dict[tuple[str, str], dict[str, Any]] = {}
        for _number, row in chunk:
            key = (row["source"], row["external_id"])
            earlier = by_key.get(key)
            if earlier is None:
                by_key[key] = row
            else:  # a later row of this call updates the earlier one
                earlier.setdefault("_first_text", earlier["text"])
                earlier["text"], earlier["rating"] = row["text"], row["rating"]
                if row["replied_at"] is not None:
                    earlier["replied_at"] = row["replied_at"]
                report.updated += 1
        if self.postgres:
            self._write_pg(by_key, report)
            return
        existing = self._existing(by_key)
        report.updated += len(existing)
        report.created += len(by_key) - len(existing)
        hits: dict[tuple[str, str], str] = {}
        records: list[tuple[Any, ...]] = []
        negatives, keywords, instant = self.negatives, self.keywords, self.instant
        clinic_id, stamp = self.clinic_id, self.stamp_value
        for key, row in by_key.items():
            rating = row["rating"]
            folded = fold(row["text"]) if rating is None or keywords else ""
            if keywords and key not in existing:
                first = row.get("_first_text")
                hit = keywords.first(fold(first) if first is not None else folded)
                if hit is not None:
                    hits[key] = hit
            records.append(
                (
                    clinic_id,
                    row["source"],
                    row["external_id"],
                    row["text"],
                    rating,
                    instant(row["posted_at"]),
                    sentiment_of(rating, folded, negatives),
                    row["author"],
                    row["url"],
                    None if row["replied_at"] is None else instant(row["replied_at"]),
                    stamp,
                    stamp,
                )
            )
        self.session.connection().exec_driver_sql(self.sql, records)
        self._expire(set(existing.values()))
        if hits:
            self._open_alerts(hits, self._existing(hits))

    def _write_pg(self, by_key: dict[tuple[str, str], dict[str, Any]], report: IngestReport) -> None:
        """PostgreSQL: the chunk as one binary ``COPY`` into the stage and one ``INSERT … SELECT … RETURNING``."""
        negatives, keywords = self.negatives, self.keywords
        records: list[tuple[Any, ...]] = []
        first_hits: dict[tuple[str, str], str] = {}
        for key, row in by_key.items():
            rating = row["rating"]
            folded = fold(row["text"]) if rating is None or keywords else ""
            if keywords:
                first = row.get("_first_text")
                hit = keywords.first(fold(first) if first is not None else folded)
                if hit is not None:
                    first_hits[key] = hit
            records.append(
                (
                    key[0],
                    key[1],
                    row["text"],
                    rating,
                    row["posted_at"],  # already UTC (values.aware); the column is timestamptz
                    sentiment_of(rating, folded, negatives),
                    row["author"],
                    row["url"],
                    row["replied_at"],
                )
            )
        connection = self.session.connection()
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        # the stage lives until the transaction ends; emptied before each chunk (it may hold an earlier call's)
        cursor.execute(f"{_CREATE_STAGE}; TRUNCATE {_STAGE}" if not self.staged else f"TRUNCATE {_STAGE}")
        self.staged = True
        copy_rows(connection, _STAGE, _STAGED, records, types=_STAGED_TYPES)
        # never prepared: the statement's text is the same for every chunk, its plan need not be kept
        cursor.execute(self.sql_pg, (self.clinic_id, self.stamp, self.stamp), prepare=False)  # type: ignore[call-arg]
        created: dict[tuple[str, str], int] = {}
        stale: set[int] = set()
        for source, external_id, ident, is_new in cursor.fetchall():
            if is_new:
                created[(source, external_id)] = ident
            else:
                stale.add(ident)
        report.created += len(created)
        report.updated += len(by_key) - len(created)
        self._expire(stale)
        hits = {key: word for key, word in first_hits.items() if key in created}
        if hits:
            self._open_alerts(hits, created)

    def _expire(self, ids: set[int]) -> None:
        """ORM objects of these (updated) mentions already in the session must not keep stale values."""
        if ids:
            for instance in list(self.session.identity_map.values()):
                if isinstance(instance, Mention) and instance.id in ids:
                    self.session.expire(instance)

    def _open_alerts(self, hits: dict[tuple[str, str], str], ids: Mapping[tuple[str, str], int]) -> None:
        """One keyword alert per new mention in ``hits`` (``{key: keyword}``), ``ids`` giving their ids."""
        self.session.execute(
            insert(_ALERT),
            [
                {
                    "clinic_id": self.clinic_id,
                    "kind": "keyword",
                    "mention_id": ids[key],
                    "opened_at": self.stamp,
                    "detail": f"keyword: {word}"[:500],
                    "status": "open",
                }
                for key, word in hits.items()
            ],
        )


#: Instants on which a fast formatter must agree with the dialect's own processor (micro- and whole seconds).
_INSTANT_SAMPLES = (datetime(2026, 3, 2, 9, 0, tzinfo=UTC), datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))


def _same(value: Any) -> Any:
    return value


def _naive_iso(value: datetime) -> str:
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _fast_instant(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The C ``isoformat`` for a UTC instant where it gives exactly what the column's processor gives, else the latter.

    On SQLite ``UTCDateTime`` stores the naive UTC wall time as ``YYYY-MM-DD HH:MM:SS.ffffff`` text, which is
    ``isoformat(" ", "microseconds")`` of the (already UTC) value; PostgreSQL keeps its own processor.
    """
    if all(processor(sample) == _naive_iso(sample) for sample in _INSTANT_SAMPLES):
        return _naive_iso
    return processor
