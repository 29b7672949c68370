"""``crm.reputation.ingest`` / ``ingest_google_reviews`` / ``watch`` / ``mentions`` on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clinic_crm import ClinicCRM, NotFound, RowError, ValidationError
from tests.conftest import T0, count_rows
from tests.services.reputation.conftest import GOOGLE_PAYLOAD, RowFactory


def test_ingest_creates_then_updates_text_and_rating(crm: ClinicCRM, clinic_id: int, row: RowFactory) -> None:
    first = row(external_id="x1", text="Great", rating=5, author="Amy", url="https://fb.example/1")
    report = crm.reputation.ingest(clinic_id, [first, row()], now=T0)
    assert (report.created, report.updated, report.rejected) == (2, 0, [])
    again = dict(first, text="Changed my mind", rating=2, author="Other", posted_at=T0)
    report = crm.reputation.ingest(clinic_id, [again], now=T0 + timedelta(hours=1))
    assert (report.created, report.updated) == (0, 1)
    assert count_rows(crm, "mention") == 2
    (m,) = [m for m in crm.reputation.mentions(clinic_id) if m.external_id == "x1"]
    assert (m.text, m.rating, m.sentiment) == ("Changed my mind", 2, "negative")
    assert m.posted_at == first["posted_at"] and m.author == "Amy"  # only text and rating are updated
    assert isinstance(m.id, int) and m.posted_at.tzinfo is UTC


def test_same_key_twice_in_one_call_is_a_create_then_an_update(crm: ClinicCRM, clinic_id: int, row: RowFactory) -> None:
    report = crm.reputation.ingest(clinic_id, [row(external_id="d"), row(external_id="d", text="v2", rating=3)], now=T0)
    assert (report.created, report.updated) == (1, 1)
    (m,) = crm.reputation.mentions(clinic_id)
    assert (m.text, m.rating, m.sentiment) == ("v2", 3, "neutral")


def test_same_external_id_in_another_source_or_clinic_is_another_mention(
    crm: ClinicCRM, clinic_id: int, row: RowFactory
) -> None:
    other = crm.clinics.create("Other", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    assert other.id is not None
    crm.reputation.ingest(clinic_id, [row(external_id="1"), row(external_id="1", source="ptt")], now=T0)
    report = crm.reputation.ingest(other.id, [row(external_id="1")], now=T0)
    assert report.created == 1
    assert count_rows(crm, "mention") == 3


def test_bad_rows_are_rejected_alone_with_their_field(crm: ClinicCRM, clinic_id: int, row: RowFactory) -> None:
    rows = [
        row(),
        row(posted_at=datetime(2026, 3, 1, 9, 0)),  # naive
        row(rating=6),
        row(rating=True),
        "not a mapping",
        row(colour="red"),
        {"source": "x", "external_id": "y", "text": "z"},
        row(source=" "),
        row(text=None),
        row(text="a\x00b"),
        row(),
    ]
    report = crm.reputation.ingest(clinic_id, rows, now=T0)  # type: ignore[arg-type]
    assert (report.created, report.updated) == (2, 0)
    assert [(e.row, e.field) for e in report.rejected] == [
        (2, "posted_at"),
        (3, "rating"),
        (4, "rating"),
        (5, "row"),
        (6, "colour"),
        (7, "posted_at"),
        (8, "source"),
        (9, "text"),
        (10, "text"),
    ]
    assert all(isinstance(e, RowError) for e in report.rejected)
    assert "timezone-aware" in report.rejected[0].reason


def test_unknown_clinic_writes_nothing(crm: ClinicCRM, row: RowFactory) -> None:
    with pytest.raises(NotFound):
        crm.reputation.ingest(999, [row()], now=T0)
    assert count_rows(crm, "mention") == 0


@pytest.mark.parametrize(
    ("rating", "expected"), [(1, "negative"), (2, "negative"), (3, "neutral"), (4, "positive"), (5, "positive")]
)
def test_sentiment_from_rating(crm: ClinicCRM, clinic_id: int, row: RowFactory, rating: int, expected: str) -> None:
    crm.reputation.ingest(clinic_id, [row(rating=rating, text="terrible")], now=T0)
    assert crm.reputation.mentions(clinic_id)[0].sentiment == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The WORST dentist", "negative"),
        ("ｔｅｒｒｉｂｌｅ service", "negative"),  # full-width, NFKC
        ("櫃台態度很差", "negative"),
        ("态度很差", "negative"),  # Simplified
        ("Fine, thanks", "neutral"),
        ("", "neutral"),
    ],
)
def test_sentiment_without_rating_uses_the_shipped_terms(
    crm: ClinicCRM, clinic_id: int, row: RowFactory, text: str, expected: str
) -> None:
    crm.reputation.ingest(clinic_id, [row(rating=None, text=text)], now=T0)
    assert crm.reputation.mentions(clinic_id)[0].sentiment == expected


def test_watch_replaces_keywords_and_own_negative_terms(crm: ClinicCRM, clinic_id: int, row: RowFactory) -> None:
    wl = crm.reputation.watch(clinic_id, keywords=["Sunrise"], negative_terms=["meh"], now=T0)
    assert wl.keywords == ("Sunrise",) and wl.negative_terms == ("meh",) and not wl.default_terms
    crm.reputation.ingest(clinic_id, [row(rating=None, text="MEH."), row(rating=None, text="terrible")], now=T0)
    assert [m.sentiment for m in crm.reputation.mentions(clinic_id)] == ["negative", "neutral"]
    wl = crm.reputation.watch(clinic_id, keywords=["Dr Lin"], now=T0)  # None keeps the clinic's terms
    assert wl.keywords == ("Dr Lin",) and wl.negative_terms == ("meh",)


def test_watch_rejects_bad_lists_and_changes_nothing(crm: ClinicCRM, clinic_id: int) -> None:
    with pytest.raises(ValidationError) as err:
        crm.reputation.watch(clinic_id, keywords="Sunrise", now=T0)
    assert err.value.field == "keywords"
    with pytest.raises(ValidationError) as err:
        crm.reputation.watch(clinic_id, keywords=["ok"], negative_terms=["", "x"], now=T0)
    assert err.value.field == "negative_terms"
    assert count_rows(crm, "reputation_watch") == 0
    assert crm.reputation.watch_list(clinic_id).default_terms


def test_keyword_opens_one_alert_on_first_ingestion_only(crm: ClinicCRM, clinic_id: int, row: RowFactory) -> None:
    crm.reputation.watch(clinic_id, keywords=["sunrise dental", "Dr Lin"], now=T0)
    report = crm.reputation.ingest(
        clinic_id,
        [row(external_id="k", text="Ｓｕｎｒｉｓｅ Dental and dr lin"), row(text="nothing")],
        now=T0,
    )
    assert report.created == 2
    (alert,) = crm.reputation.alerts(clinic_id)
    mention = next(m for m in crm.reputation.mentions(clinic_id) if m.external_id == "k")
    assert (alert.kind, alert.mention_id, alert.status, alert.opened_at) == ("keyword", mention.id, "open", T0)
    assert "Ｓｕｎｒｉｓｅ" not in alert.detail
    crm.reputation.ingest(clinic_id, [row(external_id="k", text="sunrise dental again")], now=T0)
    crm.reputation.ingest(clinic_id, [row(external_id="nothing-yet", text="plain")], now=T0)
    crm.reputation.ingest(clinic_id, [row(external_id="nothing-yet", text="now Dr Lin")], now=T0)  # an update
    assert len(crm.reputation.alerts(clinic_id)) == 1


def test_keywords_apply_to_mentions_ingested_afterwards(crm: ClinicCRM, clinic_id: int, row: RowFactory) -> None:
    crm.reputation.ingest(clinic_id, [row(text="Dr Lin was great")], now=T0)
    crm.reputation.watch(clinic_id, keywords=["Dr Lin"], now=T0)
    assert crm.reputation.alerts(clinic_id) == []


def test_google_reviews_payload(crm: ClinicCRM, clinic_id: int) -> None:
    report = crm.reputation.ingest_google_reviews(clinic_id, GOOGLE_PAYLOAD, now=T0)
    assert (report.created, report.updated, report.rejected) == (3, 0, [])
    by_id = {m.external_id: m for m in crm.reputation.mentions(clinic_id, source="google")}
    five, one, unrated = by_id["AbC1"], by_id["AbC2"], by_id["AbC3"]
    assert five.posted_at == datetime(2026, 2, 27, 1, 2, 3, 123456, tzinfo=UTC)
    assert five.replied_at == datetime(2026, 2, 27, 5, 2, 3, tzinfo=UTC)
    assert (five.rating, five.sentiment, five.author, five.source) == (5, "positive", "Amy C.", "google")
    assert (one.text, one.rating, one.sentiment, one.replied_at) == ("", 1, "negative", None)
    assert (unrated.rating, unrated.sentiment) == (None, "negative")
    assert unrated.posted_at == datetime(2026, 3, 1, 0, 30, 0, 500000, tzinfo=UTC)
    again = crm.reputation.ingest_google_reviews(clinic_id, GOOGLE_PAYLOAD, now=T0)
    assert (again.created, again.updated) == (0, 3)


def test_google_bad_review_is_rejected_alone(crm: ClinicCRM, clinic_id: int) -> None:
    payload = {
        "reviews": [
            {"reviewId": "ok", "starRating": "TWO", "createTime": "2026-03-01T00:00:00Z"},
            {"reviewId": "bad-time", "starRating": "TWO", "createTime": "yesterday"},
            {"reviewId": "bad-star", "starRating": "SIX", "createTime": "2026-03-01T00:00:00Z"},
            {"starRating": "TWO", "createTime": "2026-03-01T00:00:00Z"},
        ]
    }
    report = crm.reputation.ingest_google_reviews(clinic_id, payload, now=T0)
    assert report.created == 1
    assert [(e.row, e.field) for e in report.rejected] == [(2, "posted_at"), (3, "rating"), (4, "external_id")]


def test_google_payload_shapes(crm: ClinicCRM, clinic_id: int) -> None:
    assert crm.reputation.ingest_google_reviews(clinic_id, {}, now=T0).created == 0  # no reviews: no key
    for bad in ([], {"reviews": "x"}):
        with pytest.raises(ValidationError) as err:
            crm.reputation.ingest_google_reviews(clinic_id, bad, now=T0)  # type: ignore[arg-type]
        assert err.value.field == "payload"
    assert count_rows(crm, "mention") == 0


def test_mentions_newest_first_and_filters(crm: ClinicCRM, clinic_id: int, row: RowFactory) -> None:
    crm.reputation.ingest(
        clinic_id,
        [
            row(external_id="old", posted_at=T0 - timedelta(days=3), rating=1),
            row(external_id="new", posted_at=T0, rating=5, source="ptt"),
            row(external_id="mid", posted_at=T0 - timedelta(days=1), rating=3),
        ],
        now=T0,
    )
    assert [m.external_id for m in crm.reputation.mentions(clinic_id)] == ["new", "mid", "old"]
    assert [m.external_id for m in crm.reputation.mentions(clinic_id, source="ptt")] == ["new"]
    assert [m.external_id for m in crm.reputation.mentions(clinic_id, sentiment="negative")] == ["old"]
    window = crm.reputation.mentions(clinic_id, since=T0 - timedelta(days=1), until=T0)
    assert [m.external_id for m in window] == ["mid"]
    with pytest.raises(ValidationError) as err:
        crm.reputation.mentions(clinic_id, sentiment="angry")
    assert err.value.field == "sentiment"
    with pytest.raises(ValidationError):
        crm.reputation.mentions(clinic_id, since=datetime(2026, 1, 1))


def test_chunks_count_alert_and_apply_rows_in_order(
    crm: ClinicCRM, clinic_id: int, row: RowFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of 3: a key repeated within and across chunks, keys stored before, keyword hits on new ones only."""
    from clinic_crm.services.reputation import ingest as module

    monkeypatch.setattr(module, "CHUNK_SIZE", 3)
    crm.reputation.watch(clinic_id, keywords=["Dr Lin"], now=T0)
    crm.reputation.ingest(clinic_id, [row(external_id="old", text="plain", rating=None)], now=T0)
    rows = [
        row(external_id="a", text="plain", rating=None),
        row(external_id="old", text="Dr Lin, terrible", rating=None),  # an update: no alert, sentiment again
        row(external_id="a", text="still plain", rating=4),  # same chunk: create then update
        row(external_id="b", text="Dr Lin was kind", replied_at=T0),
        row(external_id="a", text="Dr Lin again", rating=1),  # another chunk: an update, no alert
        row(external_id="c", text="x", rating=9),  # rejected
        row(external_id="d", text="dr lin", rating=None),
    ]
    report = crm.reputation.ingest(clinic_id, rows, now=T0 + timedelta(hours=1))
    assert (report.created, report.updated) == (3, 3)
    assert [(e.row, e.field) for e in report.rejected] == [(6, "rating")]
    stored = {m.external_id: m for m in crm.reputation.mentions(clinic_id)}
    assert sorted(stored) == ["a", "b", "d", "old"]
    assert (stored["a"].text, stored["a"].rating, stored["a"].sentiment) == ("Dr Lin again", 1, "negative")
    assert (stored["old"].text, stored["old"].sentiment) == ("Dr Lin, terrible", "negative")
    assert stored["old"].updated_at == T0 + timedelta(hours=1) and stored["old"].created_at == T0
    assert stored["b"].replied_at == T0 and stored["d"].sentiment == "neutral"
    alerted = {a.mention_id for a in crm.reputation.alerts(clinic_id)}
    assert alerted == {stored["b"].id, stored["d"].id}
