"""``crm.reputation.summary`` (one SQL statement; by month in the clinic's time zone, or by source) and its chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from clinic_crm import ClinicCRM, NaiveDatetimeError, ValidationError
from clinic_crm.services.reputation.summary import ReputationSummary
from tests.conftest import T0


def _at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def data(crm: ClinicCRM, clinic_id: int) -> int:
    """Five mentions over February and March (Taipei time), four of them replied after 2, 4, 10 and 1 hours."""

    def m(ext: str, posted: datetime, rating: int | None, hours: float | None, **kw: Any) -> dict[str, Any]:
        row: dict[str, Any] = {"source": "facebook", "external_id": ext, "text": "", "posted_at": posted}
        row.update(rating=rating, **kw)
        if hours is not None:
            row["replied_at"] = posted + timedelta(hours=hours)
        return row

    rows = [
        m("a", _at(2026, 3, 1, 23), 1, 2),  # 03-02 07:00 Taipei
        m("b", _at(2026, 2, 28, 17), 4, 4),  # 03-01 01:00 Taipei: March there, February in UTC
        m("c", _at(2026, 2, 28, 15), None, 10, text="terrible"),  # 02-28 23:00 Taipei
        m("d", _at(2026, 3, 1, 12), 5, None),
        m("e", _at(2026, 2, 10), None, 1, source="ptt"),
    ]
    assert not crm.reputation.ingest(clinic_id, rows, now=T0).rejected
    return clinic_id


def test_overall(crm: ClinicCRM, data: int) -> None:
    s = crm.reputation.summary(clinic_id=data)
    assert isinstance(s, ReputationSummary)
    assert (s.mentions, s.rated, s.negative, s.replied) == (5, 3, 2, 4)
    assert s.average_rating == pytest.approx(10 / 3)
    assert s.median_hours_to_reply == pytest.approx(3.0, abs=1e-3)  # (2 + 4) / 2
    assert s.negative_share == pytest.approx(0.4)


def test_by_month_in_the_clinic_time_zone(crm: ClinicCRM, data: int) -> None:
    by = crm.reputation.summary(clinic_id=data, by="month")
    assert isinstance(by, dict) and list(by) == ["2026-02", "2026-03"]
    feb, mar = by["2026-02"], by["2026-03"]
    assert (feb.mentions, feb.rated, feb.average_rating, feb.negative, feb.replied) == (2, 0, None, 1, 2)
    assert feb.median_hours_to_reply == pytest.approx(5.5, abs=1e-3)
    assert (mar.mentions, mar.rated, mar.negative, mar.replied) == (3, 3, 1, 2)
    assert mar.average_rating == pytest.approx(10 / 3)
    assert mar.median_hours_to_reply == pytest.approx(3.0, abs=1e-3)


def test_by_source_and_odd_median(crm: ClinicCRM, data: int) -> None:
    by = crm.reputation.summary(clinic_id=data, by="source")
    assert isinstance(by, dict) and list(by) == ["facebook", "ptt"]
    fb, ptt = by["facebook"], by["ptt"]
    assert (fb.mentions, fb.rated, fb.negative, fb.replied) == (4, 3, 2, 3)
    assert fb.median_hours_to_reply == pytest.approx(4.0, abs=1e-3)
    assert (ptt.mentions, ptt.rated, ptt.average_rating, ptt.negative, ptt.replied) == (1, 0, None, 0, 1)
    assert ptt.median_hours_to_reply == pytest.approx(1.0, abs=1e-3)


def test_interval_is_half_open_on_posted_at(crm: ClinicCRM, data: int) -> None:
    s = crm.reputation.summary(clinic_id=data, since=_at(2026, 3, 1), until=_at(2026, 3, 1, 23))
    assert isinstance(s, ReputationSummary) and s.mentions == 1  # d only: a is at the (excluded) end
    assert crm.reputation.summary(clinic_id=data, since=_at(2026, 3, 1)).mentions == 2  # type: ignore[union-attr]


def test_empty(crm: ClinicCRM, clinic_id: int) -> None:
    assert crm.reputation.summary(clinic_id=clinic_id) == ReputationSummary(0, 0, None, 0, 0, None)
    assert crm.reputation.summary(clinic_id=clinic_id, by="month") == {}
    assert crm.reputation.summary(clinic_id=clinic_id, by="source") == {}


def test_replies_made_here_count(crm: ClinicCRM, data: int) -> None:
    d = next(m for m in crm.reputation.mentions(data) if m.external_id == "d")
    assert d.id is not None
    crm.reputation.reply(d.id, text="Thank you!", at=d.posted_at + timedelta(hours=30), by="Mei")
    s = crm.reputation.summary(clinic_id=data)
    assert isinstance(s, ReputationSummary) and s.replied == 5
    assert s.median_hours_to_reply == pytest.approx(4.0, abs=1e-3)  # 1, 2, 4, 10, 30


def test_bad_arguments(crm: ClinicCRM, clinic_id: int) -> None:
    with pytest.raises(ValidationError) as err:
        crm.reputation.summary(clinic_id=clinic_id, by="week")
    assert err.value.field == "by"
    with pytest.raises(NaiveDatetimeError):
        crm.reputation.summary(since=datetime(2026, 1, 1))
    with pytest.raises(ValidationError):
        crm.reputation.summary(since=_at(2026, 2, 1), until=_at(2026, 1, 1))


def test_chart(crm: ClinicCRM, data: int) -> None:
    pytest.importorskip("matplotlib")
    fig = crm.reputation.plot_summary(clinic_id=data)
    shares, ratings = fig.axes
    assert [t.get_text() for t in shares.get_xticklabels()] == ["2026-02", "2026-03"]
    assert [round(b.get_height()) for b in shares.patches] == [50, 33]
    assert list(ratings.lines[0].get_ydata()) == pytest.approx([10 / 3])
