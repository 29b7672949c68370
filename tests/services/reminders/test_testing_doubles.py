"""clinic_crm.testing: the public test doubles and factories other systems use."""

from __future__ import annotations

import pytest

from clinic_crm import ClinicCRM, DeliveryError
from clinic_crm.messaging.message import OutboundMessage
from clinic_crm.testing import FailingSender, RecordingSender, make_clinic, make_patient, strategies
from tests.conftest import T0


def _message(n: int) -> OutboundMessage:
    return OutboundMessage(
        idempotency_key=f"k{n}",
        reminder_id=n,
        patient_id=1,
        channel="sms",
        to="+886912345678",
        subject=None,
        body="hi",
        locale="en",
    )


def test_recording_sender_records_and_filters() -> None:
    sender = RecordingSender(prefix="p")
    assert [sender.send(_message(1)), sender.send(_message(2))] == ["p-1", "p-2"]
    assert [m.reminder_id for m in sender.to("+886912345678")] == [1, 2]
    assert sender.for_reminder(2)[0].idempotency_key == "k2"
    sender.clear()
    assert sender.messages == []


def test_failing_sender_fails_n_times_then_delegates() -> None:
    sender = FailingSender(times=2, retryable=False)
    for _ in range(2):
        with pytest.raises(DeliveryError) as info:
            sender.send(_message(1))
        assert info.value.retryable is False
    assert sender.send(_message(1)) == "rec-1"
    assert (sender.failures, len(sender.calls), len(sender.then.messages)) == (2, 3, 1)
    broken = FailingSender(times=None, error=lambda: TimeoutError("socket"))
    with pytest.raises(TimeoutError):
        broken.send(_message(1))


def test_factories_make_valid_rows(crm: ClinicCRM) -> None:
    clinic = make_clinic(crm, name="Factory Clinic")
    a, b = make_patient(crm, clinic.id), make_patient(crm, clinic.id, locale="en")
    assert clinic.timezone == "Asia/Taipei" and a.phone != b.phone and b.locale == "en"
    crm.reminders.schedule(a.id, kind="recall", purpose="care", due_at=T0)
    sender = RecordingSender()
    assert crm.reminders.dispatch(sender, now=T0).sent == 1


def test_strategies_draw_valid_values() -> None:
    from hypothesis import given, settings

    from clinic_crm.values import check_locale, check_timezone

    s = strategies()

    @settings(max_examples=30, deadline=None)
    @given(s.timezones, s.locales, s.quiet_hours)
    def check(tz: str, locale: str, quiet: tuple[object, object]) -> None:
        assert check_timezone(tz) == tz and check_locale(locale) == locale and len(quiet) == 2

    check()
