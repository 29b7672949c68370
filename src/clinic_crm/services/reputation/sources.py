"""Where mentions come from: the :class:`ReviewSource` protocol, Google ``reviews.list`` payloads and CSV files.

Every source yields plain dicts with the keys ``ingest`` takes (``source``, ``external_id``, ``text``,
``posted_at``, ``rating``, ``author``, ``url``, and optionally ``replied_at``).  A value that cannot be converted
is passed on as given, so that ``ingest`` rejects that row alone, with the field named.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Protocol, runtime_checkable

from clinic_crm.errors import ValidationError

__all__ = [
    "ReviewSource",
    "CsvSource",
    "CSV_COLUMNS",
    "GOOGLE_STAR_RATINGS",
    "parse_rfc3339",
    "google_rows",
]

#: The columns of a mentions CSV file (``rating``, ``author``, ``url`` may be blank or absent).
CSV_COLUMNS = ("source", "external_id", "text", "posted_at", "rating", "author", "url")

#: Google Business Profile's ``starRating`` values.
GOOGLE_STAR_RATINGS: dict[str, int | None] = {
    "STAR_RATING_UNSPECIFIED": None,
    "ONE": 1,
    "TWO": 2,
    "THREE": 3,
    "FOUR": 4,
    "FIVE": 5,
}

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


@runtime_checkable
class ReviewSource(Protocol):
    """Anything a host plugs in to bring mentions: ``crm.reputation.ingest(clinic_id, source.fetch())``."""

    def fetch(self) -> Iterable[dict[str, Any]]:
        """The mentions to ingest, one dict per mention (the keys of ``crm.reputation.ingest``)."""
        ...


def parse_rfc3339(value: object) -> datetime | None:
    """An RFC 3339 timestamp (``2026-03-02T01:02:03.123456789Z``) as an aware UTC datetime; ``None`` if not one.

    Fractions beyond microseconds are truncated (Google gives nanoseconds).
    """
    if not isinstance(value, str):
        return None
    m = _RFC3339.fullmatch(value.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    if m.group(8):
        tz = UTC
    else:
        offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        tz = timezone(-offset if m.group(9) == "-" else offset)
    try:
        return datetime(year, month, day, hour, minute, min(second, 59), micro, tzinfo=tz).astimezone(UTC)
    except ValueError:
        return None


def google_rows(payload: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The mention rows of a Google Business Profile ``reviews.list`` response (``reviews`` may be absent).

    ``external_id`` = ``reviewId``, ``posted_at`` = ``createTime``, ``text`` = ``comment`` (``""`` without one),
    ``rating`` from ``starRating`` (``STAR_RATING_UNSPECIFIED`` → ``None``), ``author`` =
    ``reviewer.displayName``, ``replied_at`` = ``reviewReply.updateTime``.

    Raises:
        ValidationError: ``payload`` is not a mapping or its ``reviews`` is not a list (field ``"payload"``).
    """
    if not isinstance(payload, Mapping):
        raise ValidationError("payload must be the JSON object of a reviews.list response", field="payload")
    reviews = payload.get("reviews", [])
    if not isinstance(reviews, list):
        raise ValidationError("payload.reviews must be a list of reviews", field="payload")
    for review in reviews:
        if not isinstance(review, Mapping):
            yield {"source": "google", "external_id": None}  # rejected by ingest as that row
            continue
        star = review.get("starRating", "STAR_RATING_UNSPECIFIED")
        reviewer = review.get("reviewer")
        reply = review.get("reviewReply")
        created = review.get("createTime")
        row: dict[str, Any] = {
            "source": "google",
            "external_id": review.get("reviewId"),
            "text": review.get("comment") or "",
            "posted_at": parse_rfc3339(created) or created,
            "rating": GOOGLE_STAR_RATINGS.get(star, star) if isinstance(star, str) else star,
            "author": reviewer.get("displayName") if isinstance(reviewer, Mapping) else None,
        }
        if isinstance(reply, Mapping) and reply.get("updateTime") is not None:
            replied = reply.get("updateTime")
            row["replied_at"] = parse_rfc3339(replied) or replied
        yield row


def _csv_value(name: str, text: str) -> Any:
    text = text.strip() if name != "text" else text
    if name in ("rating", "author", "url") and not text.strip():
        return None
    if name == "rating":
        return int(text) if text.strip().isdigit() else text
    if name == "posted_at":
        try:
            return datetime.fromisoformat(text.strip())
        except ValueError:
            return parse_rfc3339(text) or text
    return text


@dataclass(frozen=True, slots=True)
class CsvSource:
    """Mentions from a UTF-8 CSV file with the header :data:`CSV_COLUMNS` (any order; the last three optional).

    ``posted_at`` is ISO 8601 with an offset (``2026-03-02T09:00:00+08:00``); a value without one is passed on
    naive, and ``ingest`` rejects that row.
    """

    path: str | os.PathLike[str]

    def fetch(self) -> Iterator[dict[str, Any]]:
        """One dict per data row (empty lines skipped).

        Raises:
            ValidationError: no header, or a column that is not one of :data:`CSV_COLUMNS` (field ``"header"``).
            OSError: the file cannot be read.
        """
        with open(self.path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            unknown = [name for name in header if name not in CSV_COLUMNS]
            if not header or unknown or len(set(header)) != len(header):
                raise ValidationError(
                    f"the CSV header must name distinct columns among {', '.join(CSV_COLUMNS)}", field="header"
                )
            for record in reader:
                if not record:
                    continue
                row = {name: _csv_value(name, value) for name, value in zip(header, record, strict=False)}
                if len(record) > len(header):
                    row["_extra"] = True  # rejected by ingest as that row
                yield row
