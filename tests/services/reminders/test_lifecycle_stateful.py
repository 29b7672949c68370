"""The reminder lifecycle as a Hypothesis state machine, checked against a plain-Python model on both databases.

Rules: schedule, grant/withdraw consent, pause/resume marketing, let time pass, dispatch with a sender that
succeeds, fails retryably or fails permanently.  After every step each reminder's status, attempts and next
attempt match the model, and no reminder was ever accepted by a sender twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from clinic_crm import ClinicCRM, DeliveryError
from clinic_crm.messaging.message import OutboundMessage
from clinic_crm.models import Clinic
from tests.conftest import T0

TAIPEI = timedelta(hours=8)  # Asia/Taipei has no daylight saving time
HOLD = timedelta(minutes=5)


def quiet(now: datetime) -> bool:
    """The clinic's quiet hours 21:00–08:00 in Taipei."""
    return not 8 <= (now + TAIPEI).hour < 21


def quiet_end(now: datetime) -> datetime:
    local = (now + TAIPEI).replace(tzinfo=None)
    end = local.replace(hour=8, minute=0, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return (end - TAIPEI).replace(tzinfo=UTC)


@dataclass
class ModelReminder:
    purpose: str
    channel: str
    due: datetime
    status: str = "pending"
    attempts: int = 0
    next_attempt: datetime | None = None
    ready: datetime = field(default=T0)


class Sender:
    """Accepts, or raises ``DeliveryError`` as told; counts acceptances per reminder."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.accepted: dict[int, int] = {}

    def send(self, message: OutboundMessage) -> str:
        if self.mode != "ok":
            raise DeliveryError("test failure", retryable=self.mode == "retryable")
        self.accepted[message.reminder_id] = self.accepted.get(message.reminder_id, 0) + 1
        return f"ok-{message.reminder_id}"


class ReminderLifecycle(RuleBasedStateMachine):
    crm: ClinicCRM
    clinic: Clinic

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.crm.reminders.resume(self.clinic.id)
        patient = self.crm.patients.register(
            self.clinic.id, family_name="Lin", given_name="Yu", phone="+886912345678", email="yu@example.com"
        )
        assert patient.id is not None
        self.patient_id = patient.id
        self.crm.patients.grant_consent(self.patient_id, "sms", "marketing", source="state machine", at=T0)
        self.consent = {
            ("sms", "care"): True,
            ("email", "care"): True,
            ("sms", "marketing"): True,
            ("email", "marketing"): False,
        }
        self.paused = False
        self.reminders: dict[int, ModelReminder] = {}
        self.sender = Sender()

    @rule(
        purpose=st.sampled_from(["care", "marketing"]),
        channel=st.sampled_from(["sms", "email"]),
        due_in=st.sampled_from([-30, 0, 10, 120, 720]),
    )
    def schedule(self, purpose: str, channel: str, due_in: int) -> None:
        due = self.now + timedelta(minutes=due_in)
        r = self.crm.reminders.schedule(self.patient_id, kind="recall", purpose=purpose, channel=channel, due_at=due)
        assert r.id is not None
        self.reminders[r.id] = ModelReminder(purpose, channel, due, ready=due)

    @rule(
        channel=st.sampled_from(["sms", "email"]), purpose=st.sampled_from(["care", "marketing"]), granted=st.booleans()
    )
    def consent_changes(self, channel: str, purpose: str, granted: bool) -> None:
        record = self.crm.patients.grant_consent if granted else self.crm.patients.withdraw_consent
        record(self.patient_id, channel, purpose, source="state machine", at=self.now)
        self.consent[(channel, purpose)] = granted

    @rule()
    def pause(self) -> None:
        self.crm.reminders.pause(self.clinic.id, reason="state machine")
        self.paused = True

    @rule()
    def resume(self) -> None:
        self.crm.reminders.resume(self.clinic.id)
        if self.paused:
            for r in self.reminders.values():
                natural = r.next_attempt or r.due
                if r.status == "pending" and r.purpose == "marketing" and r.ready > natural:
                    r.ready = natural
        self.paused = False

    @rule(minutes=st.sampled_from([1, 5, 30, 60, 180, 600]))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule(mode=st.sampled_from(["ok", "ok", "retryable", "permanent"]))
    def dispatch(self, mode: str) -> None:
        self.sender.mode = mode
        report = self.crm.reminders.dispatch(self.sender, now=self.now)
        assert report.fenced == 0
        for r in self.reminders.values():
            if r.status != "pending" or r.ready > self.now:
                continue
            if not self.consent[(r.channel, r.purpose)]:
                r.status = "suppressed"
            elif quiet(self.now):
                r.next_attempt = r.ready = quiet_end(self.now)
            elif self.paused and r.purpose == "marketing":
                r.ready = self.now + HOLD
            elif mode == "ok":
                r.status, r.next_attempt = "sent", None
            else:
                r.attempts += 1
                if mode == "permanent" or r.attempts >= 5:
                    r.status = "failed"
                else:
                    delay = min(timedelta(minutes=5) * 2 ** (r.attempts - 1), timedelta(hours=6))
                    r.next_attempt = r.ready = self.now + delay

    @invariant()
    def database_matches_the_model(self) -> None:
        for reminder_id, expected in self.reminders.items():
            stored = self.crm.reminders.get(reminder_id)
            assert (stored.status, stored.attempts, stored.next_attempt_at) == (
                expected.status,
                expected.attempts,
                expected.next_attempt,
            ), reminder_id
            if expected.status == "pending":
                assert stored.ready_at == expected.ready
            if expected.status == "suppressed":
                assert stored.suppressed_reason == "no_consent"

    @invariant()
    def never_accepted_twice(self) -> None:
        for reminder_id, expected in self.reminders.items():
            assert self.sender.accepted.get(reminder_id, 0) == (1 if expected.status == "sent" else 0)


def test_reminder_lifecycle_matches_the_model(crm: ClinicCRM, clinic: Clinic) -> None:
    ReminderLifecycle.crm = crm
    ReminderLifecycle.clinic = clinic
    run_state_machine_as_test(
        ReminderLifecycle,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
