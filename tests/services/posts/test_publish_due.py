"""``crm.posts.publish_due``: published once, held during an open incident, retries, take-overs, the report."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from clinic_crm import ClinicCRM, ClinicCRMError, DeliveryError, NaiveDatetimeError, PublicPost, ValidationError
from clinic_crm.models import Clinic
from clinic_crm.services.posts.publishing import PublishReport
from clinic_crm.testing import FailingPublisher, RecordingPublisher
from tests.conftest import T0

from .factories import close_incident, open_incident

LEASE = timedelta(minutes=10)


def test_a_due_post_is_published_once_as_a_public_post(crm: ClinicCRM, clinic: Clinic) -> None:
    post = crm.posts.schedule(clinic.id, channel="website", text="Brush twice a day.", publish_at=T0, kind="news")
    publisher = RecordingPublisher()

    report = crm.posts.publish_due(publisher, now=T0)

    assert (report.published, report.held, report.failed) == (1, 0, 0)
    assert publisher.posts == [
        PublicPost(
            idempotency_key=post.idempotency_key,
            clinic_id=clinic.id,
            channel="website",
            text="Brush twice a day.",
            locale="zh_TW",
            kind="news",
            incident_id=None,
            statement_id=None,
            post_id=post.id,
        )
    ]
    stored = crm.posts.get(post.id)
    assert (stored.status, stored.published_at, stored.provider_post_id) == ("published", T0, "post-1")
    assert crm.posts.publish_due(publisher, now=T0 + timedelta(days=1)) == PublishReport()
    assert len(publisher.posts) == 1


def test_a_post_is_not_published_before_publish_at(crm: ClinicCRM, clinic: Clinic) -> None:
    post = crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=T0 + timedelta(hours=1))
    publisher = RecordingPublisher()
    assert crm.posts.publish_due(publisher, now=T0).published == 0
    assert crm.posts.publish_due(publisher, now=T0 + timedelta(hours=1)).published == 1
    assert [p.post_id for p in publisher.posts] == [post.id]


def test_the_report_unpacks_as_published_held_failed(crm: ClinicCRM, clinic: Clinic) -> None:
    crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=T0)
    report = crm.posts.publish_due(RecordingPublisher(), now=T0)
    published, held, failed = report.published, report.held, report.failed
    assert (published, held, failed) == (1, 0, 0)
    assert PublishReport(1, 0, 0) == PublishReport(published=1, held=0, failed=0)


@pytest.mark.parametrize(
    ("text", "locale", "expected"),
    [
        ("plain", "zh_TW", "plain"),
        ({"zh_TW": "中文", "en_US": "English"}, "zh_TW", "中文"),
        ({"en_US": "English only"}, "en_US", "English only"),
        ({"zh": "中文", "en": "English"}, "zh", "中文"),
    ],
)
def test_text_in_the_clinics_locale_or_the_texts_only_locale(
    crm: ClinicCRM, clinic: Clinic, text: Any, locale: str, expected: str
) -> None:
    crm.posts.schedule(clinic.id, channel="website", text=text, publish_at=T0)
    publisher = RecordingPublisher()
    crm.posts.publish_due(publisher, now=T0)
    [post] = publisher.posts
    assert (post.locale, post.text) == (locale, expected)


def test_posts_are_published_in_publish_at_order(crm: ClinicCRM, clinic: Clinic) -> None:
    ids = [
        crm.posts.schedule(clinic.id, channel="website", text=str(n), publish_at=T0 - timedelta(minutes=n)).id
        for n in (1, 3, 2)
    ]
    publisher = RecordingPublisher()
    crm.posts.publish_due(publisher, now=T0)
    assert [p.post_id for p in publisher.posts] == [ids[1], ids[2], ids[0]]


def test_limit_caps_the_posts_claimed(crm: ClinicCRM, clinic: Clinic) -> None:
    for n in range(5):
        crm.posts.schedule(clinic.id, channel="website", text=str(n), publish_at=T0)
    publisher = RecordingPublisher()
    assert crm.posts.publish_due(publisher, now=T0, limit=2).published == 2
    assert crm.posts.publish_due(publisher, now=T0, limit=0).published == 0
    assert crm.posts.publish_due(publisher, now=T0, batch_size=2).published == 3
    assert len({p.post_id for p in publisher.posts}) == 5


# -- holding -------------------------------------------------------------------------------------------


def test_an_open_incident_holds_due_posts_until_released(crm: ClinicCRM, clinic: Clinic) -> None:
    post = crm.posts.schedule(
        clinic.id, channel="website", text="Our spring promotion!", publish_at=T0, kind="promotion"
    )
    incident_id = open_incident(crm, clinic.id, at=T0 - timedelta(hours=1))
    publisher = RecordingPublisher()

    report = crm.posts.publish_due(publisher, now=T0)

    assert (report.published, report.held, report.failed) == (0, 1, 0)
    assert publisher.posts == []
    held = crm.posts.get(post.id)
    assert (held.status, held.held_at, held.held_by_incident_id) == ("held", T0, incident_id)
    assert [p.id for p in crm.posts.list(clinic.id, status="held")] == [post.id]

    # the incident closes: the post stays held, and is not counted again
    close_incident(crm, incident_id, at=T0 + timedelta(hours=5))
    assert crm.posts.publish_due(publisher, now=T0 + timedelta(days=1)) == PublishReport()
    assert crm.posts.get(post.id).status == "held"

    # a human looks again and releases it: due at once
    released = crm.posts.release(post.id, at=T0 + timedelta(days=2), by="manager")
    assert (released.status, released.released_at, released.released_by) == (
        "scheduled",
        T0 + timedelta(days=2),
        "manager",
    )
    assert crm.posts.publish_due(publisher, now=T0 + timedelta(days=2)).published == 1
    assert [p.post_id for p in publisher.posts] == [post.id]
    assert crm.posts.get(post.id).status == "published"


def test_a_post_not_yet_due_is_not_held(crm: ClinicCRM, clinic: Clinic) -> None:
    post = crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=T0 + timedelta(days=3))
    incident_id = open_incident(crm, clinic.id)
    assert crm.posts.publish_due(RecordingPublisher(), now=T0).held == 0
    close_incident(crm, incident_id, at=T0 + timedelta(days=1))
    assert crm.posts.publish_due(RecordingPublisher(), now=T0 + timedelta(days=3)).published == 1
    assert crm.posts.get(post.id).status == "published"


def test_a_released_post_is_held_again_while_the_incident_is_still_open(crm: ClinicCRM, clinic: Clinic) -> None:
    post = crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=T0)
    open_incident(crm, clinic.id)
    crm.posts.publish_due(RecordingPublisher(), now=T0)
    crm.posts.release(post.id, at=T0 + timedelta(hours=1), by="manager")
    report = crm.posts.publish_due(RecordingPublisher(), now=T0 + timedelta(hours=1))
    assert (report.published, report.held) == (0, 1)
    assert crm.posts.get(post.id).status == "held"


def test_a_drill_holds_nothing(crm: ClinicCRM, clinic: Clinic) -> None:
    crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=T0)
    open_incident(crm, clinic.id, drill=True)
    report = crm.posts.publish_due(RecordingPublisher(), now=T0)
    assert (report.published, report.held) == (1, 0)


def test_another_clinics_incident_holds_nothing(crm: ClinicCRM, clinic: Clinic) -> None:
    other = crm.clinics.create("Other", timezone="Asia/Taipei", locale="en_US", region="TW")
    mine = crm.posts.schedule(clinic.id, channel="website", text="mine", publish_at=T0)
    theirs = crm.posts.schedule(other.id, channel="website", text="theirs", publish_at=T0)
    open_incident(crm, other.id)
    publisher = RecordingPublisher()
    report = crm.posts.publish_due(publisher, now=T0)
    assert (report.published, report.held) == (1, 1)
    assert [p.post_id for p in publisher.posts] == [mine.id]
    assert crm.posts.get(theirs.id).status == "held"


def test_an_incident_declared_after_the_claim_still_holds_the_post(crm: ClinicCRM, clinic: Clinic) -> None:
    """The check is made again right before each post: an incident declared mid-run holds the rest."""
    first = crm.posts.schedule(clinic.id, channel="website", text="first", publish_at=T0 - timedelta(minutes=1))
    second = crm.posts.schedule(clinic.id, channel="website", text="second", publish_at=T0)

    class DeclaresAnIncident(RecordingPublisher):
        def publish(self, post: PublicPost) -> str:
            open_incident(crm, clinic.id)
            return super().publish(post)

    publisher = DeclaresAnIncident()
    report = crm.posts.publish_due(publisher, now=T0)
    assert (report.published, report.held) == (1, 1)
    assert [p.post_id for p in publisher.posts] == [first.id]
    assert crm.posts.get(second.id).status == "held"


# -- failures -------------------------------------------------------------------------------------------


def test_a_retryable_error_leaves_the_post_scheduled_for_a_later_call(crm: ClinicCRM, clinic: Clinic) -> None:
    post = crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=T0)
    publisher = FailingPublisher(1, retryable=True)

    report = crm.posts.publish_due(publisher, now=T0)

    assert (report.published, report.held, report.failed, report.gave_up) == (0, 0, 1, 0)
    stored = crm.posts.get(post.id)
    assert (stored.status, stored.attempts, stored.next_attempt_at) == ("scheduled", 1, T0 + timedelta(minutes=5))
    assert stored.last_error == "DeliveryError retryable"  # structured facts only, never the channel's text
    assert crm.posts.publish_due(publisher, now=T0 + timedelta(minutes=4)).failed == 0  # not yet
    assert crm.posts.publish_due(publisher, now=T0 + timedelta(minutes=5)).published == 1
    assert [p.idempotency_key for p in publisher.calls] == [post.idempotency_key] * 2
    assert crm.posts.get(post.id).status == "published"


def test_after_five_attempts_the_post_fails(crm: ClinicCRM, clinic: Clinic) -> None:
    post = crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=T0)
    publisher = FailingPublisher(None, retryable=True)
    now = T0
    for attempt in range(1, 6):
        report = crm.posts.publish_due(publisher, now=now)
        assert report.failed == 1
        stored = crm.posts.get(post.id)
        assert stored.attempts == attempt
        if attempt < 5:
            assert stored.status == "scheduled"
            assert stored.next_attempt_at == now + timedelta(minutes=5) * 2 ** (attempt - 1)
            now = stored.next_attempt_at
        else:
            assert (stored.status, report.gave_up) == ("failed", 1)
    assert crm.posts.publish_due(publisher, now=now + timedelta(days=1)).failed == 0
    assert len(publisher.calls) == 5


def test_a_permanent_error_fails_the_post(crm: ClinicCRM, clinic: Clinic) -> None:
    post = crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=T0)
    report = crm.posts.publish_due(FailingPublisher(None, retryable=False), now=T0)
    assert (report.published, report.failed, report.gave_up) == (0, 1, 1)
    stored = crm.posts.get(post.id)
    assert (stored.status, stored.attempts) == ("failed", 1)


def test_the_error_stored_never_holds_the_text(
    crm: ClinicCRM, clinic: Clinic, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="clinic_crm")
    text = "Free whitening for Mrs Chen this week"
    post = crm.posts.schedule(clinic.id, channel="website", text=text, publish_at=T0)

    class Echoing:
        def publish(self, public_post: PublicPost) -> str:
            raise DeliveryError(f"rejected: {public_post.text}", retryable=False)

    crm.posts.publish_due(Echoing(), now=T0)
    stored = crm.posts.get(post.id)
    assert stored.last_error is not None and text not in stored.last_error
    assert text not in caplog.text


def test_a_publisher_that_crashes_is_retried(crm: ClinicCRM, clinic: Clinic) -> None:
    post = crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=T0)

    class Broken:
        def publish(self, public_post: PublicPost) -> str:
            raise RuntimeError("bug")

    report = crm.posts.publish_due(Broken(), now=T0)
    assert report.failed == 1
    stored = crm.posts.get(post.id)
    assert (stored.status, stored.attempts, stored.last_error) == (
        "scheduled",
        1,
        "RuntimeError raised by the publisher",
    )


def test_an_interrupted_run_hands_the_rest_back(crm: ClinicCRM, clinic: Clinic) -> None:
    ids = [crm.posts.schedule(clinic.id, channel="website", text=str(n), publish_at=T0).id for n in range(3)]

    class Interrupted:
        def publish(self, public_post: PublicPost) -> str:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        crm.posts.publish_due(Interrupted(), now=T0)
    # the two it did not reach are due again at once; the one in flight waits for its lease
    publisher = RecordingPublisher()
    assert crm.posts.publish_due(publisher, now=T0).published == 2
    assert crm.posts.publish_due(publisher, now=T0 + LEASE).published == 1
    assert sorted(p.post_id for p in publisher.posts) == sorted(ids)


# -- several callers -------------------------------------------------------------------------------------


def test_a_lease_taken_over_publishes_with_the_same_key_and_fences_the_old_caller(
    crm: ClinicCRM, clinic: Clinic
) -> None:
    """A caller stuck in its first post past its lease: the next caller takes every claimed post over."""
    ids = [crm.posts.schedule(clinic.id, channel="website", text=str(n), publish_at=T0).id for n in range(3)]
    late = RecordingPublisher(prefix="late")
    reports: list[PublishReport] = []

    class Stuck(RecordingPublisher):
        def publish(self, post: PublicPost) -> str:
            # while this caller is "stuck", its lease ends and another caller runs
            reports.append(crm.posts.publish_due(late, now=T0 + LEASE))
            return super().publish(post)

    stuck = Stuck(prefix="stuck")
    first = crm.posts.publish_due(stuck, now=T0)

    assert [p.post_id for p in stuck.posts] == [ids[0]]  # only the post in flight reached it
    assert sorted(p.post_id for p in late.posts) == sorted(ids)
    assert {p.idempotency_key for p in stuck.posts} <= {p.idempotency_key for p in late.posts}
    assert (first.published, first.fenced) == (0, 3)  # its outcome and the two others were left alone
    assert reports[0].published == 3
    assert {crm.posts.get(i).provider_post_id for i in ids} == {"late-1", "late-2", "late-3"}


def test_before_its_lease_ends_a_claimed_post_is_left_alone(crm: ClinicCRM, clinic: Clinic) -> None:
    crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=T0)
    early = RecordingPublisher(prefix="early")
    inner: list[PublishReport] = []

    class Slow(RecordingPublisher):
        def publish(self, post: PublicPost) -> str:
            inner.append(crm.posts.publish_due(early, now=T0 + LEASE - timedelta(seconds=1)))
            return super().publish(post)

    assert crm.posts.publish_due(Slow(), now=T0).published == 1
    assert inner == [PublishReport()] and early.posts == []


def test_threads_publish_each_post_once(crm: ClinicCRM, clinic: Clinic) -> None:
    ids = [crm.posts.schedule(clinic.id, channel="website", text=str(n), publish_at=T0).id for n in range(40)]
    publisher = RecordingPublisher()
    reports: list[PublishReport] = []
    start = threading.Barrier(4)

    def run() -> None:
        start.wait()
        reports.append(crm.posts.publish_due(publisher, now=T0, batch_size=3))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    per_post = Counter(p.post_id for p in publisher.posts)
    assert sorted(per_post) == sorted(ids) and set(per_post.values()) == {1}
    assert sum(r.published for r in reports) == 40


# -- arguments -------------------------------------------------------------------------------------------


def test_publish_due_inside_a_transaction_is_refused(crm: ClinicCRM) -> None:
    with crm.transaction() as tx, pytest.raises(ClinicCRMError):
        tx.posts.publish_due(RecordingPublisher(), now=T0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"limit": -1}, "limit"),
        ({"limit": True}, "limit"),
        ({"lease": timedelta(0)}, "lease"),
        ({"batch_size": 0}, "batch_size"),
        ({"now": "2026-03-02"}, "now"),
    ],
)
def test_bad_arguments_are_refused(crm: ClinicCRM, clinic: Clinic, kwargs: dict[str, Any], field: str) -> None:
    crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=T0)
    with pytest.raises(ValidationError) as info:
        crm.posts.publish_due(RecordingPublisher(), **({"now": T0} | kwargs))
    assert info.value.field == field
    assert crm.posts.list(clinic.id)[0].claim_token is None


def test_a_publisher_needs_a_publish_method(crm: ClinicCRM) -> None:
    with pytest.raises(ValidationError) as info:
        crm.posts.publish_due(object(), now=T0)  # type: ignore[arg-type]
    assert info.value.field == "publisher"


def test_naive_now_is_refused(crm: ClinicCRM) -> None:
    with pytest.raises(NaiveDatetimeError):
        crm.posts.publish_due(RecordingPublisher(), now=datetime(2026, 3, 2, 9))


def test_claim_query_uses_the_status_ready_at_index(crm: ClinicCRM) -> None:
    from sqlalchemy import text

    from clinic_crm.services.posts.publishing import claim_query

    dialect = crm.engine.dialect
    compiled = claim_query(dialect.name, 50, T0).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    with crm.engine.connect() as conn:
        if dialect.name == "sqlite":
            plan = " ".join(str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
        else:
            conn.execute(text("SET enable_seqscan = off"))
            plan = " ".join(str(row[0]) for row in conn.execute(text(f"EXPLAIN {compiled}")))
    assert "ix_post_status_ready_at" in plan, plan
