"""Pure rules of community events (no database): input checks, plan keys, attendance rate, localized titles."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic_crm import EventStats, ValidationError
from clinic_crm.messaging.render import localized
from clinic_crm.services.events._rules import (
    MAX_SEATS,
    cancelled_key,
    changed_key,
    check_capacity,
    check_seats,
    check_title,
    event_prefix,
    invitation_key,
    registration_prefix,
    reminder_key,
)

ids = st.integers(1, 10**9)


def _like(key: str, prefix: str) -> bool:
    """What ``plan_key LIKE 'prefix%'`` matches (``_`` is a one-character wildcard)."""
    if len(key) < len(prefix):
        return False
    return all(p == "_" or p == k for p, k in zip(prefix, key, strict=False))


@given(a=ids, b=ids, r=ids, n=st.integers(0, 1000))
def test_event_keys_match_only_their_own_event_and_registration(a: int, b: int, r: int, n: int) -> None:
    keys = [reminder_key(a, r, n), changed_key(a, r, n), cancelled_key(a, r), invitation_key(a, r)]
    assert len(set(keys)) == 4
    for key in keys:
        assert _like(key, event_prefix(a))
        assert _like(key, event_prefix(b)) == (a == b)
    for key in keys[:3]:
        assert _like(key, registration_prefix(a, r))
        assert not _like(key, registration_prefix(a, r + 1))
    assert not _like(invitation_key(a, r), registration_prefix(a, r))


def test_titles() -> None:
    assert check_title("  Talk ") == "Talk"
    assert check_title({"en": "Talk", "zh_TW": " 講座 "}) == {"en": "Talk", "zh_TW": "講座"}
    for bad in ("", {}, {"en": ""}, {"en-US": "x"}, ["x"], None, "x" * 301):
        with pytest.raises(ValidationError) as info:
            check_title(bad)
        assert info.value.field == "title"


@given(st.one_of(st.integers(-5, 200_000), st.booleans(), st.floats(), st.text(max_size=3), st.none()))
def test_capacity_and_seats(value: object) -> None:
    capacity_ok = value is None or (type(value) is int and 1 <= value <= 100_000)
    try:
        assert check_capacity(value) == value and capacity_ok
    except ValidationError as exc:
        assert not capacity_ok and exc.field == "capacity"
    seats_ok = type(value) is int and 1 <= value <= MAX_SEATS
    try:
        assert check_seats(value) == value and seats_ok
    except ValidationError as exc:
        assert not seats_ok and exc.field == "seats"


@given(attended=st.integers(0, 1000), no_show=st.integers(0, 1000))
def test_attendance_rate(attended: int, no_show: int) -> None:
    stats = EventStats.of(1, attended + no_show, attended, no_show)
    if attended + no_show == 0:
        assert stats.attendance_rate is None
    else:
        assert stats.attendance_rate == pytest.approx(attended / (attended + no_show))
        assert 0 <= stats.attendance_rate <= 1


def test_localized_titles() -> None:
    title = {"en": "Talk", "zh_TW": "講座"}
    assert localized(title, "zh_TW") == "講座"
    assert localized(title, "zh_Hant_TW") == "講座"
    assert localized(title, "en_US") == "Talk"
    assert localized({"zh_TW": "講座"}, "zh_HK") == "講座"  # same language
    assert localized({"zh_TW": "講座"}, "ja_JP") == "講座"  # else the first
    assert localized("Talk", "ja_JP") == "Talk"
    assert localized(None, "en") == ""
