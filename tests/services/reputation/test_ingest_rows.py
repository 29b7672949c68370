"""Row checks of ``ingest``: the fast path agrees with the field-by-field checks; chunks staged on PostgreSQL.

``_clean`` (fast path, falling back) is compared with ``_clean_checked`` (the shared per-field checks) on every
edge value of each field and, with Hypothesis, on rows mixing them: the same cleaned values (time zones
included), or the same error on the same field.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from clinic_crm import ClinicCRM, ValidationError
from clinic_crm.services.reputation import ingest as module
from tests.conftest import T0, count_rows
from tests.services.reputation.conftest import RowFactory


class _NoOffset(tzinfo):
    """A time zone that does not know its offset: a datetime with it counts as naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None


class _Text(str):
    """A ``str`` subclass (the fast path leaves it to the checks)."""


def _near(limit: int) -> list[Any]:
    """Strings around ``limit`` characters (padded with blanks, with NUL, surrogates, accents), and non-strings."""
    out: list[Any] = ["", " ", "\t", None, 5, b"x", _Text("ok"), _Text(" ")]
    for n in (limit - 1, limit, limit + 1):
        for pad in ("", " "):
            for inject in ("", "\x00", "\ud800", "\udfff", "e\u0301", "é", "😀"):
                out.append(f"{pad}{'a' * n}{inject}{pad}")
    return out


_TAIPEI = timezone(timedelta(hours=8))
_INSTANTS: list[Any] = [
    T0,
    T0.astimezone(_TAIPEI),
    datetime(1900, 1, 1, tzinfo=UTC),
    datetime(1899, 12, 31, 23, tzinfo=UTC),
    datetime(2199, 12, 31, 23, tzinfo=UTC),
    datetime(2200, 1, 1, tzinfo=UTC),
    datetime(2200, 1, 1, 7, tzinfo=_TAIPEI),  # 2199 in UTC, but 2200 as given
    datetime(1900, 1, 1, 3, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2026, 3, 1, 9, 0),  # naive
    datetime(2026, 3, 1, 9, 0, tzinfo=_NoOffset()),
    date(2026, 3, 1),
    "2026-03-01T00:00:00Z",
]
#: Per field, values at and around every rule of the checks.
EDGES: dict[str, list[Any]] = {
    "source": _near(40),
    "external_id": [*_near(200), 0, 7, -1, True, 1.5],
    "text": ["", " ", None, 3, _Text("x"), "a" * 20000, "a" * 20001, "e\u0301" * 10000, "é" * 20000, "a\x00", "\ud83d"],
    "posted_at": _INSTANTS,
    "rating": [None, 0, 1, 5, 6, -1, True, False, 4.0, "4"],
    "author": _near(200),
    "url": _near(2000),
    "replied_at": [*_INSTANTS, None],
}
_BASE: dict[str, Any] = {
    "source": "google",
    "external_id": "g-1",
    "text": "Nice",
    "posted_at": T0,
    "rating": 4,
    "author": "Amy",
    "url": "https://x/1",
    "replied_at": T0,
}


def _outcome(clean: Any, row: Any) -> tuple[str, str]:
    """``("ok", repr(values))`` (time zones included) or ``("error", type, field, message)``."""
    try:
        return "ok", repr(clean(row))
    except ValidationError as exc:
        return "error", repr((type(exc), exc.field, str(exc)))


@pytest.mark.parametrize("name", list(EDGES))
def test_fast_path_agrees_on_every_edge_of_each_field(name: str) -> None:
    for value in EDGES[name]:
        row = dict(_BASE, **{name: value})
        assert _outcome(module._clean, row) == _outcome(module._clean_checked, row), (name, value)


@st.composite
def _rows(draw: st.DrawFn) -> Any:
    """A row with some optional fields left out and up to three fields at an edge (or arbitrary text)."""
    row = {name: value for name, value in _BASE.items() if name in module._REQUIRED or draw(st.booleans())}
    for name in draw(st.lists(st.sampled_from(list(EDGES)), max_size=3)):
        row[name] = draw(st.one_of(st.sampled_from(EDGES[name]), st.text(max_size=6)))
    if draw(st.integers(0, 10)) == 0:
        del row[draw(st.sampled_from(module._REQUIRED))]
    if draw(st.integers(0, 10)) == 0:
        row["colour"] = "red"
    if draw(st.integers(0, 20)) == 0:
        return [("source", "x")]
    return row


@settings(max_examples=300, deadline=None)
@given(_rows())
def test_fast_path_gives_exactly_what_the_field_checks_give(row: Any) -> None:
    assert _outcome(module._clean, row) == _outcome(module._clean_checked, row)


def test_well_formed_rows_take_the_fast_path(row: RowFactory) -> None:
    full = row(author=" Amy ", url="https://fb.example/1", replied_at=T0, text="很好 e\u0301".replace("e\u0301", "é"))
    cleaned = module._clean_fast(full)
    assert cleaned is not None and cleaned == module._clean_checked(full)
    assert cleaned["author"] == "Amy"
    assert module._clean_fast(row(rating=None, posted_at=T0.astimezone(timezone(timedelta(hours=8))))) is not None
    assert module._clean_fast(row(text="a\x00b")) is None  # the checks then name the field
    assert module._clean_fast(row(author="  ")) is None  # a blank author is stored as None by the checks


def test_chunks_staged_twice_in_one_transaction_land_once_each(
    crm: ClinicCRM, clinic_id: int, row: RowFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ingests in one transaction (PostgreSQL: one stage table, emptied per chunk); values round-trip."""
    monkeypatch.setattr(module, "CHUNK_SIZE", 2)
    taipei = timezone(timedelta(hours=8))
    first = [
        row(external_id="a", posted_at=datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=taipei), url="https://x/a"),
        row(external_id="b", text="診所 😀", rating=None, author="Bo", replied_at=T0),
        row(external_id="c", rating=9),  # rejected alone, in the middle of a chunk
        row(external_id="d"),
        row(external_id="a", text="v2", rating=1),  # a later chunk of the same call: an update
    ]
    second = [row(external_id="b", text="again", rating=4), row(external_id="e")]  # no replied_at: kept
    with Session(crm.engine) as session, session.begin():
        one = module.ingest(session, clinic_id, first, now=T0)
        two = module.ingest(session, clinic_id, second, now=T0 + timedelta(hours=1))
    assert (one.created, one.updated, [(e.row, e.field) for e in one.rejected]) == (3, 1, [(3, "rating")])
    assert (two.created, two.updated, two.rejected) == (1, 1, [])
    assert count_rows(crm, "mention") == 4
    stored = {m.external_id: m for m in crm.reputation.mentions(clinic_id)}
    assert sorted(stored) == ["a", "b", "d", "e"]
    a, b = stored["a"], stored["b"]
    assert (a.text, a.rating, a.sentiment, a.url) == ("v2", 1, "negative", "https://x/a")
    assert a.posted_at == datetime(2026, 3, 1, 1, 30, 15, 123456, tzinfo=UTC) and a.posted_at.tzinfo is UTC
    assert (b.text, b.rating, b.sentiment, b.author, b.replied_at) == ("again", 4, "positive", "Bo", T0)
