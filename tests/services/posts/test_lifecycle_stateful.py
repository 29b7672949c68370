"""The post lifecycle as a Hypothesis state machine, checked against a plain-Python model on both databases.

Rules: schedule, let time pass, publish with a publisher that succeeds, fails retryably or fails permanently,
declare an incident (or a drill), close one, release, cancel.  After every step each post's status, attempts and
next attempt match the model, and no post ever reached the publisher twice.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from clinic_crm import ClinicCRM, DeliveryError, InvalidTransition, PublicPost
from tests.conftest import T0

from .factories import close_incident, open_incident

_names = itertools.count()


@dataclass
class ModelPost:
    ready: datetime
    status: str = "scheduled"
    attempts: int = 0
    next_attempt: datetime | None = None


class Publisher:
    """Accepts, or raises ``DeliveryError`` as told; counts acceptances per post."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.accepted: dict[int, int] = {}

    def publish(self, post: PublicPost) -> str:
        if self.mode != "ok":
            raise DeliveryError("test failure", retryable=self.mode == "retryable")
        assert post.post_id is not None
        self.accepted[post.post_id] = self.accepted.get(post.post_id, 0) + 1
        return f"ok-{post.post_id}"


class PostLifecycle(RuleBasedStateMachine):
    crm: ClinicCRM

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        clinic = self.crm.clinics.create(f"Clinic {next(_names)}", timezone="Asia/Taipei", locale="zh_TW", region="TW")
        assert clinic.id is not None
        self.clinic_id = clinic.id
        self.posts: dict[int, ModelPost] = {}
        self.incidents: dict[int, bool] = {}  # open incident id -> drill
        self.publisher = Publisher()

    @property
    def holding(self) -> bool:
        return any(not drill for drill in self.incidents.values())

    @rule(due_in=st.sampled_from([-30, 0, 10, 120]), kind=st.sampled_from(["health_education", "promotion"]))
    def schedule(self, due_in: int, kind: str) -> None:
        due = self.now + timedelta(minutes=due_in)
        post = self.crm.posts.schedule(self.clinic_id, channel="website", text="tip", publish_at=due, kind=kind)
        assert post.id is not None
        self.posts[post.id] = ModelPost(ready=due)

    @rule(minutes=st.sampled_from([1, 5, 30, 180]))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule(mode=st.sampled_from(["ok", "ok", "retryable", "permanent"]))
    def publish(self, mode: str) -> None:
        self.publisher.mode = mode
        report = self.crm.posts.publish_due(self.publisher, now=self.now)
        expected = {"published": 0, "held": 0, "failed": 0}
        for post in self.posts.values():
            if post.status != "scheduled" or post.ready > self.now:
                continue
            if self.holding:
                post.status, post.ready = "held", self.now
                expected["held"] += 1
            elif mode == "ok":
                post.status, post.next_attempt = "published", None
                expected["published"] += 1
            else:
                expected["failed"] += 1
                post.attempts += 1
                if mode == "permanent" or post.attempts >= 5:
                    post.status = "failed"
                else:
                    delay = min(timedelta(minutes=5) * 2 ** (post.attempts - 1), timedelta(hours=6))
                    post.next_attempt = post.ready = self.now + delay
        assert {"published": report.published, "held": report.held, "failed": report.failed} == expected
        assert report.fenced == 0

    @rule(drill=st.booleans())
    def declare(self, drill: bool) -> None:
        self.incidents[open_incident(self.crm, self.clinic_id, drill=drill, at=self.now)] = drill

    @precondition(lambda self: bool(self.incidents))
    @rule(data=st.data())
    def close(self, data: st.DataObject) -> None:
        incident_id = data.draw(st.sampled_from(sorted(self.incidents)))
        close_incident(self.crm, incident_id, at=self.now)
        del self.incidents[incident_id]

    @precondition(lambda self: bool(self.posts))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        post_id = data.draw(st.sampled_from(sorted(self.posts)))
        post = self.posts[post_id]
        if post.status != "held":
            try:
                self.crm.posts.release(post_id, at=self.now, by="manager")
            except InvalidTransition:
                return
            raise AssertionError("release of a post that is not held must raise InvalidTransition")
        self.crm.posts.release(post_id, at=self.now, by="manager")
        post.status, post.ready, post.next_attempt = "scheduled", self.now, None

    @precondition(lambda self: bool(self.posts))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        post_id = data.draw(st.sampled_from(sorted(self.posts)))
        post = self.posts[post_id]
        if post.status not in ("scheduled", "held"):
            try:
                self.crm.posts.cancel(post_id, at=self.now, by="manager")
            except InvalidTransition:
                return
            raise AssertionError("cancel of a finished post must raise InvalidTransition")
        self.crm.posts.cancel(post_id, at=self.now, by="manager")
        post.status = "cancelled"

    @invariant()
    def database_matches_the_model(self) -> None:
        stored = {p.id: p for p in self.crm.posts.list(self.clinic_id)}
        assert sorted(stored) == sorted(self.posts)
        for post_id, expected in self.posts.items():
            row = stored[post_id]
            assert (row.status, row.attempts, row.next_attempt_at) == (
                expected.status,
                expected.attempts,
                expected.next_attempt,
            ), post_id
            if expected.status == "scheduled":
                assert row.ready_at == expected.ready
            assert row.claim_token is None

    def teardown(self) -> None:
        """Leave nothing due for the next example (which shares the database): cancel, close."""
        for post_id, post in self.posts.items():
            if post.status in ("scheduled", "held"):
                self.crm.posts.cancel(post_id, at=self.now, by="teardown")
        for incident_id in self.incidents:
            close_incident(self.crm, incident_id, at=self.now)

    @invariant()
    def never_published_twice(self) -> None:
        for post_id, expected in self.posts.items():
            assert self.publisher.accepted.get(post_id, 0) == (1 if expected.status == "published" else 0)


def test_post_lifecycle_matches_the_model(crm: ClinicCRM) -> None:
    PostLifecycle.crm = crm
    run_state_machine_as_test(
        PostLifecycle,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
