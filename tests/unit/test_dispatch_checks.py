"""The send-time rules of dispatch (``services/reminders/checks.py``): pure, no database, milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic_crm.services.reminders.checks import (
    CANCELLED,
    HOLD_RECHECK,
    Check,
    RetryPolicy,
    check,
    decide,
    failure,
    route,
    sent,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 17:00 in Taipei: outside 21:00-08:00
NIGHT = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 22:00 in Taipei
MOBILE = "+886912345678"
FIXED_LINE = "+886223456789"
US_FIXED_OR_MOBILE = "+12015550123"


def _check(**overrides: Any) -> Check:
    values: dict[str, Any] = {
        "channel": None,
        "phone": MOBILE,
        "email": "a@example.com",
        "erased": False,
        "visit_status": None,
        "timezone": "Asia/Taipei",
        "quiet_start": time(21),
        "quiet_end": time(8),
        "paused": False,
        "expires_at": None,
        "now": T0,
    }
    values.update(overrides)
    return check(**values)


def _reason(result: Check, purpose: str = "care", granted: bool | None = None) -> str | None:
    outcome = decide(result, purpose, granted)
    if outcome is None:
        return "send"
    return outcome.reason or outcome.kind


def test_route_prefers_the_asked_channel_then_sms_then_email() -> None:
    assert route(None, MOBILE, "a@example.com") == ("sms", MOBILE)
    assert route(None, None, "a@example.com") == ("email", "a@example.com")
    assert route("email", MOBILE, "a@example.com") == ("email", "a@example.com")
    assert route("sms", None, "a@example.com") == ("sms", None)


def test_a_reminder_that_passes_every_rule_is_sent() -> None:
    result = _check()
    assert (result.channel, result.address, result.cancelled, result.outcome) == ("sms", MOBILE, False, None)
    assert _reason(result) == "send"


def test_consent_defaults_by_purpose_and_the_latest_event_wins() -> None:
    assert _reason(_check(), "care", None) == "send"
    assert _reason(_check(), "marketing", None) == "no_consent"
    assert _reason(_check(), "marketing", True) == "send"
    assert _reason(_check(), "care", False) == "no_consent"


def test_cancelled_visit_wins_over_everything() -> None:
    for status in ("cancelled", "no_show"):
        result = _check(visit_status=status, erased=True, phone=None, now=NIGHT)
        assert result.cancelled and decide(result, "marketing", False) is CANCELLED
    assert not _check(visit_status="booked").cancelled


def test_erased_wins_over_consent() -> None:
    outcome = decide(_check(erased=True), "care", True)
    assert outcome is not None and outcome.reason == "erased" and outcome.values["status"] == "suppressed"


def test_consent_is_checked_before_address_and_address_before_not_mobile() -> None:
    assert _reason(_check(phone=None, email=None), "marketing", None) == "no_consent"
    assert _reason(_check(phone=None, email=None)) == "no_address"
    assert _reason(_check(channel="sms", phone=None)) == "no_address"


def test_fixed_line_is_not_mobile_but_fixed_line_or_mobile_is_sent() -> None:
    outcome = decide(_check(phone=FIXED_LINE), "care", None)
    assert outcome is not None and outcome.reason == "not_mobile" and outcome.values["channel"] == "sms"
    assert _reason(_check(phone=US_FIXED_OR_MOBILE, timezone="America/New_York", now=T0 + timedelta(hours=6))) == "send"
    assert _reason(_check(phone=FIXED_LINE, channel="email")) == "send"  # the e-mail goes out


def test_not_mobile_is_checked_before_quiet_hours() -> None:
    assert _reason(_check(phone=FIXED_LINE, now=NIGHT)) == "not_mobile"


def test_quiet_hours_defer_to_their_end_in_the_patient_zone() -> None:
    outcome = decide(_check(now=NIGHT), "care", None)
    assert outcome is not None and outcome.kind == "deferred"
    end = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)  # 08:00 in Taipei
    assert outcome.values == {"status": "pending", "next_attempt_at": end, "ready_at": end, "claim_token": None}
    assert _reason(_check(now=NIGHT, timezone="Europe/London")) == "send"  # 14:00 in London


def test_quiet_hours_come_before_the_pause_and_the_pause_before_expiry() -> None:
    assert _reason(_check(now=NIGHT, paused=True)) == "deferred"
    held = decide(_check(paused=True, expires_at=T0), "care", None)
    assert held is not None and held.kind == "held" and held.values["ready_at"] == T0 + HOLD_RECHECK
    assert _reason(_check(expires_at=T0)) == "expired"
    assert _reason(_check(expires_at=T0 + timedelta(seconds=1))) == "send"


def test_sent_keeps_the_provider_id_as_text_of_at_most_200() -> None:
    outcome = sent(T0, 12345, "sms")
    assert outcome.kind == "sent" and outcome.values["provider_id"] == "12345" and outcome.values["sent_at"] == T0
    assert sent(T0, "x" * 300, "sms").values["provider_id"] == "x" * 200
    assert sent(T0, None, "email").values["provider_id"] is None


def test_retryable_failures_back_off_then_give_up() -> None:
    policy = RetryPolicy(max_attempts=3, base=timedelta(minutes=5))
    first = failure(0, T0, policy, retryable=True, error="DeliveryError retryable")
    assert first.kind == "retry" and first.values["attempts"] == 1
    assert first.values["next_attempt_at"] == first.values["ready_at"] == T0 + timedelta(minutes=5)
    second = failure(1, T0, policy, retryable=True, error="e")
    assert second.values["next_attempt_at"] == T0 + timedelta(minutes=10)
    last = failure(2, T0, policy, retryable=True, error="e")
    assert last.kind == "failed" and last.values == {
        "status": "failed",
        "attempts": 3,
        "last_error": "e",
        "claim_token": None,
    }
    assert failure(0, T0, policy, retryable=False, error="e").kind == "failed"


@given(st.integers(min_value=1, max_value=10_000))
def test_retry_delay_doubles_up_to_its_cap(attempts: int) -> None:
    policy = RetryPolicy()
    delay = policy.delay(attempts)
    assert delay.total_seconds() == min(
        policy.base.total_seconds() * 2.0 ** min(attempts - 1, 1000), policy.cap.total_seconds()
    )
    assert policy.delay(attempts + 1) >= delay


@pytest.mark.parametrize("purpose", ["care", "marketing"])
@given(
    erased=st.booleans(),
    cancelled=st.booleans(),
    has_address=st.booleans(),
    fixed=st.booleans(),
    night=st.booleans(),
    paused=st.booleans(),
    expired=st.booleans(),
    granted=st.none() | st.booleans(),
)
def test_the_first_failing_rule_in_the_contract_order_decides(
    purpose: str,
    erased: bool,
    cancelled: bool,
    has_address: bool,
    fixed: bool,
    night: bool,
    paused: bool,
    expired: bool,
    granted: bool | None,
) -> None:
    now = NIGHT if night else T0
    result = _check(
        channel="sms",
        phone=(FIXED_LINE if fixed else MOBILE) if has_address else None,
        erased=erased,
        visit_status="cancelled" if cancelled else "booked",
        paused=paused,
        expires_at=now if expired else None,
        now=now,
    )
    allowed = {"care": True, "marketing": False}[purpose] if granted is None else granted
    expected = (
        "cancelled"
        if cancelled
        else "erased"
        if erased
        else "no_consent"
        if not allowed
        else "no_address"
        if not has_address
        else "not_mobile"
        if fixed
        else "deferred"
        if night
        else "held"
        if paused
        else "expired"
        if expired
        else "send"
    )
    assert _reason(result, purpose, granted) == expected
