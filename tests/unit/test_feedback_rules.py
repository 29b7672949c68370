"""The pure rules of feedback cases: targets, deadlines, the status machine and "breached" (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic_crm.errors import InvalidTransition, ValidationError
from clinic_crm.services.feedback.rules import (
    ACTIONS,
    DEFAULT_TARGETS,
    KINDS,
    PRIORITIES,
    STATUSES,
    TRANSITIONS,
    Clocks,
    decode_target,
    default_targets,
    due_time,
    encode_target,
    is_breached,
    missed,
    next_status,
)

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def plus_days(instant: datetime, days: int) -> datetime:
    """A stand-in calendar: every day is a working day."""
    return instant + timedelta(days=days)


# --------------------------------------------------------------------------- targets


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (timedelta(hours=4), "14400 seconds"),
        (timedelta(seconds=1), "1 seconds"),
        ("3 working days", "3 working days"),
        ("  3  Working  DAYS ", "3 working days"),
        ("1 working day", "1 working day"),
        ("1 working days", "1 working day"),
        (None, None),
    ],
)
def test_encode_target(value: object, stored: str | None) -> None:
    assert encode_target(value, "acknowledge_within") == stored


@pytest.mark.parametrize(
    "value",
    [
        "3 days",
        "three working days",
        "0 working days",
        "-1 working days",
        "3 working",
        "",
        timedelta(0),
        timedelta(hours=-4),
        timedelta(seconds=1.5),
        timedelta(days=4000),
        4,
        3.0,
        True,
        ["3 working days"],
    ],
)
def test_bad_targets_name_the_field(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        encode_target(value, "resolve_within")
    assert info.value.field == "resolve_within"


@given(st.one_of(st.none(), st.integers(1, 10_000).map(lambda n: f"{n} working days"), st.integers(1, 10**8)))
def test_decode_inverts_encode(value: object) -> None:
    target = timedelta(seconds=value) if isinstance(value, int) else value
    stored = encode_target(target, "t")
    assert encode_target(decode_target(stored), "t") == stored
    if isinstance(target, timedelta):
        assert decode_target(stored) == target


def test_contract_defaults() -> None:
    assert set(DEFAULT_TARGETS) == {(k, p) for k in KINDS for p in PRIORITIES}
    assert default_targets("complaint", "normal") == ("3 working days", "20 working days")
    assert default_targets("complaint", "urgent") == ("14400 seconds", "5 working days")
    assert default_targets("question", "normal") == ("2 working days", "5 working days")
    for kind in ("suggestion", "compliment"):
        assert default_targets(kind, "normal") == ("5 working days", None)


# --------------------------------------------------------------------------- deadlines


def test_due_time_clock_working_days_and_none() -> None:
    assert due_time(T, "14400 seconds", plus_days) == T + 4 * H
    assert due_time(T, "3 working days", plus_days) == T + timedelta(days=3)
    assert due_time(T, "1 working day", plus_days) == T + timedelta(days=1)
    assert due_time(T, None, plus_days) is None


# --------------------------------------------------------------------------- status machine


def test_transitions() -> None:
    assert next_status("open", "acknowledge") == "acknowledged"
    assert next_status("open", "resolve") == "resolved"
    assert next_status("acknowledged", "resolve") == "resolved"
    assert next_status("resolved", "reopen") == "acknowledged"


@pytest.mark.parametrize(
    ("status", "action"),
    [(s, a) for s in STATUSES for a in ACTIONS if a not in TRANSITIONS.get(s, {})],
)
def test_everything_else_is_an_invalid_transition(status: str, action: str) -> None:
    with pytest.raises(InvalidTransition) as info:
        next_status(status, action)
    assert info.value.current == status


# --------------------------------------------------------------------------- breached


def test_missed() -> None:
    due = T
    assert not missed(None, None, T + H)
    assert not missed(due, None, T)  # due == now: not yet past due
    assert missed(due, None, T + H)
    assert not missed(due, T, T + H)  # done exactly at the due time: on time
    assert missed(due, T + H, T + 2 * H)  # done late: stays breached
    assert missed(due, T + 2 * H, T + H)  # not done by now (done later): overdue at now
    assert not missed(due, T + H, T - H)  # before the due time nothing is breached yet


def test_late_acknowledgement_stays_breached_after_resolution() -> None:
    clocks = Clocks(T, T + H, T + 10 * H, T + 2 * H)
    assert is_breached(clocks, T + 100 * H)


def test_missed_before_keeps_a_reopened_case_breached() -> None:
    clocks = Clocks(T, T, T + 100 * H, None, missed_before_at=T + H)
    assert not is_breached(clocks, T + H)
    assert is_breached(clocks, T + 2 * H)


instants = st.one_of(st.none(), st.integers(-50, 50).map(lambda h: T + h * H))


@given(instants, instants, instants, instants, st.integers(-60, 60))
def test_breached_once_breached_for_good(
    ack_due: datetime | None, ack: datetime | None, res_due: datetime | None, res: datetime | None, hours: int
) -> None:
    """Breach is monotone in ``now``: a case breached at ``now`` is breached at every later instant."""
    clocks = Clocks(ack_due, ack, res_due, res)
    now = T + hours * H
    if is_breached(clocks, now):
        assert is_breached(clocks, now + H)
