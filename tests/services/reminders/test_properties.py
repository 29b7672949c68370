"""Hypothesis: quiet hours hold for every zone and instant (DST days included); consent decides every send.

Both properties are checked against plain Python models written here, independently of the code under test.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinic_crm import ClinicCRM
from clinic_crm.models import Clinic
from clinic_crm.services.reminders.quiet import in_quiet_hours, quiet_hours_end
from clinic_crm.testing import RecordingSender, strategies
from tests.conftest import T0

DST_ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Tehran",
    "Pacific/Chatham",
]


def quiet_model(instant: datetime, tz: str, start: time, end: time) -> bool:
    """Quiet hours as the contract states them: ``[start, end)`` of local wall time, wrapping midnight."""
    local = instant.astimezone(ZoneInfo(tz)).time()
    if start == end:
        return False
    return start <= local < end if start < end else (local >= start or local < end)


@cache
def offset_changes(tz: str) -> list[datetime]:
    """Instants (to the quarter hour) at which ``tz`` changes its UTC offset in 2025–2027, by brute force."""
    zone = ZoneInfo(tz)
    found, probe = [], datetime(2025, 1, 1, tzinfo=UTC)
    last = probe.astimezone(zone).utcoffset()
    while probe < datetime(2028, 1, 1, tzinfo=UTC):
        probe += timedelta(minutes=15)
        offset = probe.astimezone(zone).utcoffset()
        if offset != last:
            found.append(probe)
            last = offset
    return found


wall_times = st.one_of(
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
    st.sampled_from(
        [
            time(1, 15),
            time(1, 30),
            time(1, 45),
            time(2, 0),
            time(2, 30),
            time(3, 0),
            time(0, 0),
            time(1, 0),
            time(23, 30),
        ]
    ),
)


@st.composite
def zone_and_instant(draw: st.DrawFn) -> tuple[str, datetime]:
    """Any IANA zone at any instant, or a DST zone within a day of one of its transitions."""
    if draw(st.booleans()):
        tz = draw(st.sampled_from(DST_ZONES))
        changes = offset_changes(tz)
        base = draw(st.sampled_from(changes)) if changes else datetime(2026, 1, 1, tzinfo=UTC)
        spread = draw(st.sampled_from([3 * 60, 26 * 60]))
        return tz, base + timedelta(minutes=draw(st.integers(-spread, spread)))
    tz = draw(strategies().timezones)
    seconds = draw(st.integers(0, 3 * 365 * 86400))
    return tz, datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


@settings(max_examples=1500, deadline=None)
@given(zone_and_instant(), wall_times, wall_times)
def test_quiet_hours_end_is_the_first_instant_outside_them(zi: tuple[str, datetime], start: time, end: time) -> None:
    tz, now = zi
    assert in_quiet_hours(now, tz, start, end) == quiet_model(now, tz, start, end)
    until = quiet_hours_end(now, tz, start, end)
    assert until.tzinfo is not None and until.utcoffset() == timedelta(0)
    if not quiet_model(now, tz, start, end):
        assert until == now
        return
    assert until > now
    assert not quiet_model(until, tz, start, end)
    # nothing earlier is outside: the second before is quiet (or not after now), and so is every
    # 5-minute step and every offset change in between (a fall-back can jump out of the interval early)
    before = until - timedelta(seconds=1)
    assert before <= now or quiet_model(before, tz, start, end)
    probe = now
    while probe < until:
        assert quiet_model(probe, tz, start, end), probe
        probe += timedelta(minutes=5)
    for change in offset_changes(tz) if tz in DST_ZONES else []:
        if now < change < until:
            assert quiet_model(change, tz, start, end), change
    # a local wall time that exists: converting it back gives the same instant
    local = until.astimezone(ZoneInfo(tz))
    assert local.astimezone(UTC) == until


def test_fall_back_can_end_quiet_hours_early() -> None:
    # New York, 1 Nov 2026: 02:00 EDT becomes 01:00 EST at 06:00 UTC; quiet hours [01:15, 08:00)
    now = datetime(2026, 11, 1, 5, 50, tzinfo=UTC)  # 01:50 EDT: quiet
    assert quiet_hours_end(now, "America/New_York", time(1, 15), time(8)) == datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    # …and 01:00–01:15 EST is not quiet, 01:15 EST starts them again until 08:00 EST
    again = datetime(2026, 11, 1, 6, 15, tzinfo=UTC)
    assert quiet_hours_end(again, "America/New_York", time(1, 15), time(8)) == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)
    # Lord Howe falls back half an hour: 02:00 (+11) becomes 01:30 (+10:30)
    lord_howe = datetime(2026, 4, 4, 14, 50, tzinfo=UTC)  # 01:50 +11 on 5 April 2026
    assert in_quiet_hours(lord_howe, "Australia/Lord_Howe", time(1, 45), time(6))
    assert quiet_hours_end(lord_howe, "Australia/Lord_Howe", time(1, 45), time(6)) == datetime(
        2026, 4, 4, 15, 0, tzinfo=UTC
    )


def test_end_inside_a_spring_forward_gap_is_the_first_valid_instant() -> None:
    # London, 29 March 2026: 01:00 GMT becomes 02:00 BST; quiet [22:00, 01:30) ends at the jump
    now = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert quiet_hours_end(now, "Europe/London", time(22), time(1, 30)) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    # quiet [02:15, 01:30) wraps almost all day: on the gap day 01:30 is skipped and 02:00 BST is already
    # outside, so the first instant outside is the jump itself
    assert quiet_hours_end(now, "Europe/London", time(2, 15), time(1, 30)) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(zone_and_instant(), wall_times, wall_times)
def test_no_message_is_handed_over_inside_quiet_hours(
    crm: ClinicCRM, clinic: Clinic, zi: tuple[str, datetime], start: time, end: time
) -> None:
    tz, now = zi
    crm.clinics.update(clinic.id, quiet_hours=(start, end))
    patient = crm.patients.register(
        clinic.id, family_name="Doe", given_name="Jo", phone="+886912345678", timezone=tz, locale="en"
    )
    zones = {patient.id: tz}
    reminder = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=now - timedelta(minutes=1))
    sender = RecordingSender()
    crm.reminders.dispatch(sender, now=now)
    for message in sender.messages:  # earlier examples' deferred reminders may come due too
        message_zone = zones.get(message.patient_id) or crm.patients.get(message.patient_id).timezone
        assert not quiet_model(now, message_zone, start, end)
    stored = crm.reminders.get(reminder.id)
    if quiet_model(now, tz, start, end):
        assert stored.status == "pending" and sender.for_reminder(reminder.id) == []
        assert stored.next_attempt_at is not None and stored.next_attempt_at > now
        assert not quiet_model(stored.next_attempt_at, tz, start, end)
        later = RecordingSender()
        crm.reminders.dispatch(later, now=stored.next_attempt_at)
        assert len(later.for_reminder(reminder.id)) == 1
    else:
        assert stored.status == "sent" and len(sender.for_reminder(reminder.id)) == 1


CHANNELS, PURPOSES = ("sms", "email"), ("care", "marketing")
events_strategy = st.lists(
    st.tuples(st.sampled_from(CHANNELS), st.sampled_from(PURPOSES), st.booleans(), st.integers(-120, 120)),
    max_size=8,
)


def consent_model(events: list[tuple[str, str, bool, int]], channel: str, purpose: str, now_offset: int) -> bool:
    """The latest event at or before now decides (ties: the later recorded); else care yes, marketing no."""
    decided = None
    latest = None
    for ch, pu, granted, at in events:  # in the order they were recorded
        if (ch, pu) == (channel, purpose) and at <= now_offset and (latest is None or at >= latest):
            latest, decided = at, granted
    return (purpose == "care") if decided is None else decided


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events_strategy, st.integers(-150, 150))
def test_a_message_is_sent_iff_the_latest_consent_event_allows_it(
    crm: ClinicCRM, clinic: Clinic, events: list[tuple[str, str, bool, int]], now_offset: int
) -> None:
    patient = crm.patients.register(
        clinic.id, family_name="Lin", given_name="Yu", phone="+886912345678", email="yu@example.com"
    )
    for channel, purpose, granted, at in events:
        record = crm.patients.grant_consent if granted else crm.patients.withdraw_consent
        record(patient.id, channel, purpose, source="property test", at=T0 + timedelta(minutes=at))
    now = T0 + timedelta(minutes=now_offset)  # 14:30–19:30 in Taipei: never quiet
    ids = {
        (channel, purpose): crm.reminders.schedule(
            patient.id, kind="recall", purpose=purpose, channel=channel, due_at=T0 - timedelta(hours=3)
        ).id
        for channel in CHANNELS
        for purpose in PURPOSES
    }
    sender = RecordingSender()
    crm.reminders.dispatch(sender, now=now)
    for (channel, purpose), reminder_id in ids.items():
        expected = consent_model(events, channel, purpose, now_offset)
        stored = crm.reminders.get(reminder_id)
        assert (stored.status == "sent") == expected, (channel, purpose)
        assert len(sender.for_reminder(reminder_id)) == (1 if expected else 0)
        if not expected:
            assert stored.suppressed_reason == "no_consent"
