"""``crm.posts.schedule|release|cancel|list|get``: validation, transitions, nothing written on error."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from clinic_crm import ClinicCRM, InvalidTransition, NaiveDatetimeError, NotFound, ValidationError
from clinic_crm.models import Clinic
from clinic_crm.testing import RecordingPublisher
from tests.conftest import T0, count_rows

from .factories import open_incident

LATER = T0 + timedelta(days=1)


def test_schedule_returns_a_scheduled_post(crm: ClinicCRM, clinic: Clinic) -> None:
    post = crm.posts.schedule(clinic.id, channel="website", text="Brush twice a day.", publish_at=LATER)
    assert isinstance(post.id, int)
    assert (post.clinic_id, post.channel, post.text, post.kind, post.status) == (
        clinic.id,
        "website",
        "Brush twice a day.",
        "health_education",
        "scheduled",
    )
    assert post.publish_at == LATER and post.publish_at.tzinfo is not None
    stored = crm.posts.get(post.id)
    assert stored.publish_at == LATER and stored.publish_at.utcoffset() == timedelta(0)
    assert stored.idempotency_key == post.idempotency_key


@pytest.mark.parametrize("kind", ["health_education", "news", "event", "promotion"])
def test_every_contract_kind_is_accepted(crm: ClinicCRM, clinic: Clinic, kind: str) -> None:
    assert crm.posts.schedule(clinic.id, channel="fb", text="x", publish_at=LATER, kind=kind).kind == kind


def test_text_by_locale_round_trips(crm: ClinicCRM, clinic: Clinic) -> None:
    text = {"zh_TW": "每天刷牙兩次。", "en_US": "Brush twice a day."}
    post = crm.posts.schedule(clinic.id, channel="website", text=text, publish_at=LATER)
    assert crm.posts.get(post.id).text == text


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "advert"}, "kind"),
        ({"kind": None}, "kind"),
        ({"channel": ""}, "channel"),
        ({"channel": "   "}, "channel"),
        ({"channel": "x" * 51}, "channel"),
        ({"channel": "web site"}, "channel"),
        ({"channel": 7}, "channel"),
        ({"text": ""}, "text"),
        ({"text": "  "}, "text"),
        ({"text": {}}, "text"),
        ({"text": {"xx_YY": "hello"}}, "text"),
        ({"text": {"zh-TW": "hello"}}, "text"),
        ({"text": {"en": ""}}, "text"),
        ({"text": {"en": 3}}, "text"),
        ({"text": ["hello"]}, "text"),
        ({"text": "x" * 10_001}, "text"),
        ({"text": "bad\x00text"}, "text"),
        ({"publish_at": "2026-03-03"}, "publish_at"),
    ],
)
def test_bad_input_raises_validation_error_naming_the_field_and_writes_nothing(
    crm: ClinicCRM, clinic: Clinic, changes: dict[str, object], field: str
) -> None:
    kwargs: dict[str, object] = {"channel": "website", "text": "Hello", "publish_at": LATER} | changes
    with pytest.raises(ValidationError) as info:
        crm.posts.schedule(clinic.id, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert count_rows(crm, "post") == 0


def test_naive_publish_at_is_refused(crm: ClinicCRM, clinic: Clinic) -> None:
    with pytest.raises(NaiveDatetimeError):
        crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=datetime(2026, 3, 3, 9))
    assert count_rows(crm, "post") == 0


def test_unknown_clinic_is_not_found(crm: ClinicCRM) -> None:
    with pytest.raises(NotFound):
        crm.posts.schedule(999, channel="website", text="x", publish_at=LATER)
    assert count_rows(crm, "post") == 0


def test_list_by_status_in_publishing_order(crm: ClinicCRM, clinic: Clinic) -> None:
    other = crm.clinics.create("Other", timezone="Asia/Taipei", locale="en_US", region="TW")
    late = crm.posts.schedule(clinic.id, channel="website", text="late", publish_at=LATER + timedelta(hours=1))
    early = crm.posts.schedule(clinic.id, channel="website", text="early", publish_at=LATER)
    gone = crm.posts.schedule(clinic.id, channel="website", text="gone", publish_at=LATER)
    crm.posts.schedule(other.id, channel="website", text="elsewhere", publish_at=LATER)
    crm.posts.cancel(gone.id, at=T0, by="manager")
    assert [p.id for p in crm.posts.list(clinic.id)] == [early.id, gone.id, late.id]
    assert [p.id for p in crm.posts.list(clinic.id, status="scheduled")] == [early.id, late.id]
    assert [p.id for p in crm.posts.list(clinic.id, status="cancelled")] == [gone.id]
    assert crm.posts.list(clinic.id, status="held") == []


def test_list_validates_status_and_clinic(crm: ClinicCRM, clinic: Clinic) -> None:
    with pytest.raises(ValidationError) as info:
        crm.posts.list(clinic.id, status="sending")
    assert info.value.field == "status"
    with pytest.raises(NotFound):
        crm.posts.list(999)


def test_get_unknown_post_is_not_found(crm: ClinicCRM) -> None:
    with pytest.raises(NotFound):
        crm.posts.get(12345)


def test_cancel_records_who_and_when(crm: ClinicCRM, clinic: Clinic) -> None:
    post = crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=LATER)
    cancelled = crm.posts.cancel(post.id, at=T0 + timedelta(hours=1), by="Dr. Lin")
    assert (cancelled.status, cancelled.cancelled_at, cancelled.cancelled_by) == (
        "cancelled",
        T0 + timedelta(hours=1),
        "Dr. Lin",
    )
    publisher = RecordingPublisher()
    assert crm.posts.publish_due(publisher, now=LATER + timedelta(days=1)).published == 0
    assert publisher.posts == []


def _held(crm: ClinicCRM, clinic: Clinic) -> int:
    post = crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=T0)
    open_incident(crm, clinic.id)
    assert crm.posts.publish_due(RecordingPublisher(), now=T0).held == 1
    return int(post.id)  # type: ignore[arg-type]


def _published(crm: ClinicCRM, clinic: Clinic) -> int:
    post = crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=T0)
    assert crm.posts.publish_due(RecordingPublisher(), now=T0).published == 1
    return int(post.id)  # type: ignore[arg-type]


def _failed(crm: ClinicCRM, clinic: Clinic) -> int:
    from clinic_crm.testing import FailingPublisher

    post = crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=T0)
    assert crm.posts.publish_due(FailingPublisher(None, retryable=False), now=T0).failed == 1
    return int(post.id)  # type: ignore[arg-type]


def _cancelled(crm: ClinicCRM, clinic: Clinic) -> int:
    post = crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=T0)
    crm.posts.cancel(post.id, at=T0, by="manager")
    return int(post.id)  # type: ignore[arg-type]


def _scheduled(crm: ClinicCRM, clinic: Clinic) -> int:
    return int(crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=LATER).id)  # type: ignore[arg-type]


@pytest.mark.parametrize("make", [_scheduled, _published, _failed, _cancelled])
def test_release_of_anything_but_a_held_post_is_an_invalid_transition(crm: ClinicCRM, clinic: Clinic, make) -> None:  # type: ignore[no-untyped-def]
    post_id = make(crm, clinic)
    before = crm.posts.get(post_id)
    with pytest.raises(InvalidTransition):
        crm.posts.release(post_id, at=LATER, by="manager")
    after = crm.posts.get(post_id)
    assert (after.status, after.released_at, after.ready_at) == (before.status, None, before.ready_at)


@pytest.mark.parametrize("make", [_published, _failed, _cancelled])
def test_cancel_of_a_finished_post_is_an_invalid_transition(crm: ClinicCRM, clinic: Clinic, make) -> None:  # type: ignore[no-untyped-def]
    post_id = make(crm, clinic)
    status = crm.posts.get(post_id).status
    with pytest.raises(InvalidTransition):
        crm.posts.cancel(post_id, at=LATER, by="manager")
    assert crm.posts.get(post_id).status == status


def test_a_held_post_can_be_cancelled(crm: ClinicCRM, clinic: Clinic) -> None:
    post_id = _held(crm, clinic)
    assert crm.posts.cancel(post_id, at=T0 + timedelta(hours=3), by="manager").status == "cancelled"


def test_release_and_cancel_validate_their_arguments(crm: ClinicCRM, clinic: Clinic) -> None:
    post_id = _held(crm, clinic)
    for call in (crm.posts.release, crm.posts.cancel):
        with pytest.raises(NaiveDatetimeError):
            call(post_id, at=datetime(2026, 3, 3, 9), by="manager")
        with pytest.raises(ValidationError) as info:
            call(post_id, at=LATER, by="  ")
        assert info.value.field == "by"
        with pytest.raises(NotFound):
            call(999, at=LATER, by="manager")
    assert crm.posts.get(post_id).status == "held"


def test_a_post_being_published_cannot_be_cancelled_until_its_lease_ends(crm: ClinicCRM, clinic: Clinic) -> None:
    post = crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=T0)
    seen: list[str] = []

    class Publisher:
        def publish(self, public_post: object) -> str:
            with pytest.raises(InvalidTransition):
                crm.posts.cancel(post.id, at=T0 + timedelta(minutes=1), by="manager")
            seen.append("refused")
            return "ok"

    assert crm.posts.publish_due(Publisher(), now=T0).published == 1
    assert seen == ["refused"]
    assert crm.posts.get(post.id).status == "published"
