"""Fixtures of the reputation tests: a mention-row factory and a recorded Google ``reviews.list`` payload."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from clinic_crm import ClinicCRM
from clinic_crm.models import Clinic
from tests.conftest import T0

RowFactory = Callable[..., dict[str, Any]]

#: A ``reviews.list`` response as Google Business Profile returns it (ids and names invented).
GOOGLE_PAYLOAD: dict[str, Any] = {
    "reviews": [
        {
            "name": "accounts/1/locations/2/reviews/AbC1",
            "reviewId": "AbC1",
            "reviewer": {"profilePhotoUrl": "https://example.invalid/p.png", "displayName": "Amy C."},
            "starRating": "FIVE",
            "comment": "Friendly staff, short wait.",
            "createTime": "2026-02-27T01:02:03.123456789Z",
            "updateTime": "2026-02-27T01:02:03.123456789Z",
            "reviewReply": {"comment": "Thank you!", "updateTime": "2026-02-27T05:02:03Z"},
        },
        {
            "name": "accounts/1/locations/2/reviews/AbC2",
            "reviewId": "AbC2",
            "reviewer": {"displayName": "A Google user", "isAnonymous": True},
            "starRating": "ONE",
            "createTime": "2026-02-28T10:00:00Z",
            "updateTime": "2026-02-28T10:00:00Z",
        },
        {
            "reviewId": "AbC3",
            "reviewer": {"displayName": "Bo"},
            "starRating": "STAR_RATING_UNSPECIFIED",
            "comment": "櫃台態度很差",
            "createTime": "2026-03-01T08:30:00.5+08:00",
            "updateTime": "2026-03-01T08:30:00.5+08:00",
        },
    ],
    "averageRating": 3,
    "totalReviewCount": 3,
    "nextPageToken": "",
}


@pytest.fixture
def clinic_id(clinic: Clinic) -> int:
    """The id of the Taipei test clinic."""
    assert clinic.id is not None
    return clinic.id


@pytest.fixture
def row() -> RowFactory:
    """Make a valid mention row (``external_id`` unique per call unless given)."""
    counter = iter(range(1, 1_000_000))

    def make(**overrides: Any) -> dict[str, Any]:
        n = next(counter)
        base: dict[str, Any] = {
            "source": "facebook",
            "external_id": f"fb-{n}",
            "text": "Nice clinic",
            "posted_at": T0 - timedelta(hours=n),
            "rating": 5,
        }
        base.update(overrides)
        return base

    return make


def negatives(crm: ClinicCRM, clinic_id: int, times: list[datetime], *, prefix: str = "neg") -> None:
    """Ingest one negative (1-star) mention posted at each of ``times``."""
    rows = [
        {"source": "google", "external_id": f"{prefix}-{i}", "text": "", "posted_at": at, "rating": 1}
        for i, at in enumerate(times)
    ]
    report = crm.reputation.ingest(clinic_id, rows, now=T0)
    assert not report.rejected
