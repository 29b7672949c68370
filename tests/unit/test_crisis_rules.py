"""The pure rules of crisis readiness (no database): FMEA scores, readiness, approvals, publication, clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic_crm.errors import NotApproved, ValidationError
from clinic_crm.services.crisis.rules import (
    READINESS_CHECKS,
    Check,
    check_ids,
    check_publishable,
    check_score,
    first_statement_due,
    is_fully_approved,
    is_overdue,
    next_update_due,
    pick_text,
    post_key,
    readiness_score,
    rpn,
)

T = datetime(2026, 3, 2, 9, tzinfo=UTC)


@given(st.integers(1, 10), st.integers(1, 10), st.integers(1, 10))
def test_rpn_is_the_product(s: int, o: int, d: int) -> None:
    assert rpn(s, o, d) == s * o * d
    assert 1 <= rpn(s, o, d) <= 1000


@given(st.one_of(st.integers(), st.floats(), st.booleans(), st.text(), st.none()))
def test_scores_are_ints_from_1_to_10(value: object) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 10:
        assert check_score(value, "severity") == value
    else:
        with pytest.raises(ValidationError) as err:
            check_score(value, "severity")
        assert err.value.field == "severity"


@given(st.lists(st.booleans(), min_size=6, max_size=6))
def test_readiness_score(oks: list[bool]) -> None:
    result = readiness_score(Check(name, ok, "d") for name, ok in zip(READINESS_CHECKS, oks, strict=True))
    assert result.score == round(100 * sum(oks) / 6)
    assert [c.name for c in result.checks] == list(READINESS_CHECKS)


def test_readiness_needs_the_six_checks_in_order() -> None:
    with pytest.raises(ValueError):
        readiness_score([Check("lead", True, "")])
    with pytest.raises(ValueError):
        readiness_score(Check(n, True, "") for n in reversed(READINESS_CHECKS))
    assert [readiness_score(Check(n, i < k, "") for i, n in enumerate(READINESS_CHECKS)).score for k in range(7)] == [
        0,
        17,
        33,
        50,
        67,
        83,
        100,
    ]


roles = st.sets(st.sampled_from(["lead", "legal", "medical", "spokesperson"]))


@given(roles, roles)
def test_approved_when_every_approver_approved(approvers: set[str], approved: set[str]) -> None:
    expected = (approvers or {"lead"}) <= approved
    assert is_fully_approved(approvers, approved) is expected


@pytest.mark.parametrize("status", ["draft", "published", "superseded"])
def test_only_an_approved_version_is_published(status: str) -> None:
    with pytest.raises(NotApproved):
        check_publishable(status=status, audience="staff", staff_told=True)


@pytest.mark.parametrize("audience", ["patients", "public", "media"])
def test_external_needs_staff_first(audience: str) -> None:
    with pytest.raises(NotApproved):
        check_publishable(status="approved", audience=audience, staff_told=False)
    check_publishable(status="approved", audience=audience, staff_told=True)
    check_publishable(status="approved", audience="staff", staff_told=False)


def test_clocks() -> None:
    assert first_statement_due(T) == T + timedelta(hours=2)
    assert next_update_due(T) == T + timedelta(hours=24)


@given(
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
    st.booleans(),
    st.sampled_from(["open", "closed"]),
    st.one_of(st.none(), st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=5))),
)
def test_overdue(after: timedelta, drill: bool, status: str, first: timedelta | None) -> None:
    now = T + after
    first_at = None if first is None else T + first
    update_due = None if first_at is None else next_update_due(first_at)
    result = is_overdue(
        now=now,
        status=status,
        drill=drill,
        first_statement_due_at=first_statement_due(T),
        first_statement_at=first_at,
        next_update_due_at=update_due,
    )
    late_first = first_at is None and now > T + timedelta(hours=2)
    late_update = update_due is not None and now > update_due
    assert result is (status == "open" and not drill and (late_first or late_update))


def test_pick_text() -> None:
    assert pick_text("plain", ["zh_TW"]) == ("plain", None)
    assert pick_text({"en": "a", "zh_TW": "b"}, ["zh_TW", "zh"]) == ("b", "zh_TW")
    assert pick_text({"en": "a", "zh": "b"}, ["zh_TW", "zh"]) == ("b", "zh")
    assert pick_text({"en": "a"}, ["zh_TW"]) == ("a", "en")


@given(st.integers(1, 10**9), st.text(min_size=1, max_size=20))
def test_post_key_is_stable_per_version_and_channel(statement_id: int, channel: str) -> None:
    assert post_key(statement_id, channel) == post_key(statement_id, channel)
    assert post_key(statement_id, channel) != post_key(statement_id + 1, channel)
    assert post_key(statement_id, channel) != post_key(statement_id, channel + "x")


def test_check_ids() -> None:
    assert check_ids([3, 1, 3], "risk_ids") == [3, 1]
    assert check_ids((), "risk_ids") == []
    for bad in ("1", [True], [1.0], None, 5):
        with pytest.raises(ValidationError) as err:
            check_ids(bad, "patient_ids")
        assert err.value.field == "patient_ids"
