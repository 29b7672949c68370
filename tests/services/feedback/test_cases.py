"""Recording cases, deadlines from policies, the status machine, history, assignment and listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from clinic_crm import (
    ClinicCRM,
    InvalidTransition,
    NaiveDatetimeError,
    NotFound,
    Patient,
    ValidationError,
)
from clinic_crm.services.feedback.rules import Clocks, is_breached
from tests.conftest import T0, count_rows
from tests.services.feedback.conftest import LNY_FRIDAY, TPE, CaseFactory

H = timedelta(hours=1)
DAY = timedelta(days=1)


def local(instant: datetime | None) -> datetime:
    assert instant is not None
    return instant.astimezone(TPE)


# --------------------------------------------------------------------------- record and deadlines


def test_record_returns_an_open_case_with_every_contract_field(
    crm: ClinicCRM, cid: int, patient: Patient, make_case: CaseFactory
) -> None:
    case = make_case(patient_id=patient.id, priority="normal")
    assert isinstance(case.id, int)
    assert (case.clinic_id, case.patient_id, case.visit_id) == (cid, patient.id, None)
    assert (case.kind, case.channel, case.priority, case.text, case.status) == (
        "complaint",
        "phone",
        "normal",
        "等太久了",
        "open",
    )
    assert case.received_at == T0 and case.received_at.tzinfo is not None
    assert case.assigned_to is None and case.acknowledged_at is None and case.resolved_at is None
    assert case.resolution is None
    assert crm.feedback.get(case.id) == case


def test_lunar_new_year_complaint_is_due_after_the_holiday(crm: ClinicCRM, make_case: CaseFactory) -> None:
    """The issue's case: received Friday 2026-02-13 10:00 Taipei, "3 working days" → Wednesday 02-25 10:00."""
    case = make_case(at=LNY_FRIDAY)
    assert local(case.acknowledge_due_at) == datetime(2026, 2, 25, 10, 0, tzinfo=TPE)
    assert case.acknowledge_due_at is not None and case.acknowledge_due_at.tzinfo == UTC
    assert case.resolve_due_at == crm.clinics.add_working_days(case.clinic_id, LNY_FRIDAY, 20)


@pytest.mark.parametrize(
    ("kind", "priority", "acknowledge", "resolve"),
    [
        ("complaint", "normal", 3, 20),
        ("complaint", "urgent", timedelta(hours=4), 5),
        ("question", "normal", 2, 5),
        ("question", "urgent", 2, 5),
        ("suggestion", "normal", 5, None),
        ("suggestion", "urgent", 5, None),
        ("compliment", "normal", 5, None),
        ("compliment", "urgent", 5, None),
    ],
)
def test_default_policies(
    crm: ClinicCRM,
    cid: int,
    make_case: CaseFactory,
    kind: str,
    priority: str,
    acknowledge: int | timedelta,
    resolve: int | None,
) -> None:
    case = make_case(kind=kind, priority=priority, at=LNY_FRIDAY)

    def due(target: int | timedelta | None) -> datetime | None:
        if target is None:
            return None
        if isinstance(target, timedelta):
            return LNY_FRIDAY.astimezone(UTC) + target
        return crm.clinics.add_working_days(cid, LNY_FRIDAY, target)

    assert case.acknowledge_due_at == due(acknowledge)
    assert case.resolve_due_at == due(resolve)
    policy = crm.feedback.policy(cid, kind=kind, priority=priority)
    assert policy.default is True


def test_working_days_follow_the_clinics_closures(crm: ClinicCRM, cid: int, make_case: CaseFactory) -> None:
    crm.clinics.add_closure(cid, datetime(2026, 2, 25).date(), reason="training", at=T0)
    case = make_case(at=LNY_FRIDAY)
    assert local(case.acknowledge_due_at) == datetime(2026, 2, 26, 10, 0, tzinfo=TPE)


def test_policy_change_applies_to_later_cases_only(crm: ClinicCRM, cid: int, make_case: CaseFactory) -> None:
    before = make_case()
    policy = crm.feedback.set_policy(
        cid, kind="complaint", acknowledge_within=timedelta(hours=2), resolve_within="1 working day", at=T0
    )
    assert (policy.acknowledge_within, policy.resolve_within, policy.default) == (
        timedelta(hours=2),
        "1 working day",
        False,
    )
    after = make_case()
    assert crm.feedback.get(before.id).acknowledge_due_at == crm.clinics.add_working_days(cid, T0, 3)  # type: ignore[arg-type]
    assert after.acknowledge_due_at == T0 + 2 * H
    assert after.resolve_due_at == crm.clinics.add_working_days(cid, T0, 1)
    urgent = make_case(priority="urgent")  # another (kind, priority): still the default
    assert urgent.acknowledge_due_at == T0 + 4 * H
    crm.feedback.set_policy(cid, kind="complaint", acknowledge_within=None, resolve_within=None, at=T0)
    none = make_case()
    assert none.acknowledge_due_at is None and none.resolve_due_at is None
    assert crm.feedback.policy(cid, kind="complaint").acknowledge_within is None
    assert count_rows(crm, "feedback_policy") == 1


def test_reopen_follows_the_policy_in_force_when_the_case_was_recorded(
    crm: ClinicCRM, cid: int, make_case: CaseFactory
) -> None:
    case = make_case()  # complaint/normal: resolve within 20 working days
    assert case.id is not None
    crm.feedback.resolve(case.id, at=T0 + H, by="Ms Lin", resolution="apologised")
    crm.feedback.set_policy(cid, kind="complaint", acknowledge_within="1 working day", resolve_within=None, at=T0)
    reopened = crm.feedback.reopen(case.id, at=T0 + 2 * DAY, by="Ms Lin", reason="patient called again")
    assert reopened.resolve_due_at == crm.clinics.add_working_days(cid, T0 + 2 * DAY, 20)


# --------------------------------------------------------------------------- bad input


def test_bad_input_is_a_typed_error_and_writes_nothing(
    crm: ClinicCRM, cid: int, patient: Patient, make_case: CaseFactory
) -> None:
    other = crm.clinics.create("Other", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    stranger = crm.patients.register(other.id, family_name="李", given_name="四")  # type: ignore[arg-type]
    bad: list[tuple[dict[str, Any], type[Exception], str | None]] = [
        ({"at": T0.replace(tzinfo=None)}, NaiveDatetimeError, "at"),
        ({"kind": "rant"}, ValidationError, "kind"),
        ({"channel": "fax"}, ValidationError, "channel"),
        ({"priority": "high"}, ValidationError, "priority"),
        ({"text": "   "}, ValidationError, "text"),
        ({"text": "x" * 4001}, ValidationError, "text"),
        ({"text": None}, ValidationError, "text"),
        ({"patient_id": 999}, NotFound, None),
        ({"patient_id": stranger.id}, ValidationError, "patient_id"),
        ({"visit_id": 999}, NotFound, None),
    ]
    for overrides, error, field in bad:
        with pytest.raises(error) as info:
            make_case(**overrides)
        if field is not None:
            assert getattr(info.value, "field", None) == field
        assert "等太久了" not in str(info.value)
    with pytest.raises(NotFound):
        crm.feedback.record(999, kind="complaint", channel="phone", text="x", at=T0)
    for target in ("3 days", timedelta(hours=-1), "0 working days", 5):
        with pytest.raises(ValidationError) as info:
            crm.feedback.set_policy(cid, kind="complaint", acknowledge_within=target, resolve_within=None)
        assert info.value.field == "acknowledge_within"
    with pytest.raises(ValidationError) as info:
        crm.feedback.set_policy(cid, kind="complaint", acknowledge_within=None, resolve_within="forever")
    assert info.value.field == "resolve_within"
    with pytest.raises(ValidationError) as info:
        crm.feedback.set_policy(cid, kind="gripe", acknowledge_within=None, resolve_within=None)
    assert info.value.field == "kind"
    with pytest.raises(ValidationError) as info:
        crm.feedback.set_policy(cid, kind="complaint", priority="asap", acknowledge_within=None, resolve_within=None)
    assert info.value.field == "priority"
    for table in ("feedback_case", "feedback_case_event", "feedback_policy"):
        assert count_rows(crm, table) == 0


def test_bad_input_on_changes_writes_nothing(crm: ClinicCRM, make_case: CaseFactory) -> None:
    case = make_case()
    assert case.id is not None
    calls: list[tuple[Any, dict[str, Any], type[Exception], str | None]] = [
        (crm.feedback.acknowledge, {"at": T0.replace(tzinfo=None), "by": "A"}, NaiveDatetimeError, "at"),
        (crm.feedback.acknowledge, {"at": T0, "by": " "}, ValidationError, "by"),
        (crm.feedback.acknowledge, {"at": T0 - H, "by": "A"}, ValidationError, "at"),
        (crm.feedback.acknowledge, {"at": T0, "by": "A", "notify": "yes"}, ValidationError, "notify"),
        (crm.feedback.resolve, {"at": T0, "by": "A", "resolution": ""}, ValidationError, "resolution"),
        (crm.feedback.resolve, {"at": T0, "by": "", "resolution": "done"}, ValidationError, "by"),
        (crm.feedback.assign, {"to": "", "at": T0}, ValidationError, "to"),
        (crm.feedback.assign, {"to": "Dr Lin", "at": T0, "by": ""}, ValidationError, "by"),
        (crm.feedback.assign, {"to": "Dr Lin", "at": T0.replace(tzinfo=None)}, NaiveDatetimeError, "at"),
        (crm.feedback.reopen, {"at": T0, "by": "A", "reason": ""}, ValidationError, "reason"),
    ]
    for call, kwargs, error, field in calls:
        with pytest.raises(error) as info:
            call(case.id, **kwargs)
        assert getattr(info.value, "field", None) == field
    with pytest.raises(NotFound):
        crm.feedback.acknowledge(999, at=T0, by="A")
    with pytest.raises(NotFound):
        crm.feedback.history(999)
    assert crm.feedback.get(case.id) == case
    assert count_rows(crm, "feedback_case_event") == 1  # only "recorded"
    assert count_rows(crm, "reminder") == 0


# --------------------------------------------------------------------------- status machine and history


def test_open_acknowledged_resolved_with_history(crm: ClinicCRM, make_case: CaseFactory) -> None:
    case = make_case()
    assert case.id is not None
    acked = crm.feedback.acknowledge(case.id, at=T0 + H, by="Ms Lin", note="called back")
    assert (acked.status, acked.acknowledged_at) == ("acknowledged", T0 + H)
    done = crm.feedback.resolve(case.id, at=T0 + 5 * H, by="Dr Chen", resolution="refunded")
    assert (done.status, done.resolved_at, done.resolution) == ("resolved", T0 + 5 * H, "refunded")
    assert done.acknowledged_at == T0 + H
    events = crm.feedback.history(case.id)
    assert [(e.kind, e.at, e.by, e.note) for e in events] == [
        ("recorded", T0, "system", None),
        ("acknowledged", T0 + H, "Ms Lin", "called back"),
        ("resolved", T0 + 5 * H, "Dr Chen", "refunded"),
    ]
    assert all(e.at.tzinfo == UTC for e in events)


def test_resolve_from_open_also_acknowledges(crm: ClinicCRM, make_case: CaseFactory) -> None:
    case = make_case()
    assert case.id is not None
    done = crm.feedback.resolve(case.id, at=T0 + H, by="Ms Lin", resolution="answered at the desk")
    assert (done.status, done.acknowledged_at, done.resolved_at) == ("resolved", T0 + H, T0 + H)
    assert [e.kind for e in crm.feedback.history(case.id)] == ["recorded", "acknowledged", "resolved"]


def test_reopen_clears_the_resolution_and_counts_a_new_deadline(
    crm: ClinicCRM, cid: int, make_case: CaseFactory
) -> None:
    case = make_case()
    assert case.id is not None
    crm.feedback.acknowledge(case.id, at=T0 + H, by="A")
    crm.feedback.resolve(case.id, at=T0 + 2 * H, by="A", resolution="fixed")
    reopened = crm.feedback.reopen(case.id, at=T0 + 3 * DAY, by="B", reason="not fixed")
    assert reopened.status == "acknowledged"
    assert reopened.resolved_at is None and reopened.resolution is None
    assert reopened.acknowledged_at == T0 + H
    assert reopened.resolve_due_at == crm.clinics.add_working_days(cid, T0 + 3 * DAY, 20)
    assert crm.feedback.history(case.id)[-1].kind == "reopened"
    assert crm.feedback.history(case.id)[-1].note == "not fixed"
    again = crm.feedback.resolve(case.id, at=T0 + 4 * DAY, by="B", resolution="fixed for real")
    assert again.status == "resolved"


@pytest.mark.parametrize(
    ("steps", "action"),
    [
        ([], "reopen"),
        (["acknowledge"], "acknowledge"),
        (["acknowledge"], "reopen"),
        (["resolve"], "acknowledge"),
        (["resolve"], "resolve"),
        (["acknowledge", "resolve"], "resolve"),
        (["resolve", "reopen"], "acknowledge"),
        (["resolve", "reopen"], "reopen"),
    ],
)
def test_every_other_move_is_an_invalid_transition(
    crm: ClinicCRM, make_case: CaseFactory, steps: list[str], action: str
) -> None:
    case = make_case()
    assert case.id is not None
    args: dict[str, dict[str, Any]] = {
        "acknowledge": {"by": "A"},
        "resolve": {"by": "A", "resolution": "done"},
        "reopen": {"by": "A", "reason": "again"},
    }
    for step in steps:
        getattr(crm.feedback, step)(case.id, at=T0 + H, **args[step])
    before = crm.feedback.get(case.id)
    events = len(crm.feedback.history(case.id))
    with pytest.raises(InvalidTransition):
        getattr(crm.feedback, action)(case.id, at=T0 + 2 * H, **args[action])
    assert crm.feedback.get(case.id) == before
    assert len(crm.feedback.history(case.id)) == events


def test_times_may_not_go_backwards(crm: ClinicCRM, make_case: CaseFactory) -> None:
    case = make_case()
    assert case.id is not None
    crm.feedback.acknowledge(case.id, at=T0 + 2 * H, by="A")
    with pytest.raises(ValidationError) as info:
        crm.feedback.resolve(case.id, at=T0 + H, by="A", resolution="done")
    assert info.value.field == "at"
    crm.feedback.resolve(case.id, at=T0 + 3 * H, by="A", resolution="done")
    with pytest.raises(ValidationError):
        crm.feedback.reopen(case.id, at=T0 + 2 * H, by="A", reason="again")


def test_assign_records_who_and_defaults_by_to_the_actor(crm: ClinicCRM, make_case: CaseFactory) -> None:
    case = make_case()
    assert case.id is not None
    assert crm.feedback.assign(case.id, to="Dr Chen", at=T0 + H, by="Ms Lin").assigned_to == "Dr Chen"
    crm.feedback.assign(case.id, to="Dr Wang", at=T0 + 2 * H)
    crm.as_actor("manager").feedback.assign(case.id, to="Dr Wu", at=T0 + 3 * H)
    assert crm.feedback.get(case.id).assigned_to == "Dr Wu"
    assert crm.feedback.get(case.id).status == "open"  # assigning is not a status change
    assigned = [(e.by, e.note, e.at) for e in crm.feedback.history(case.id) if e.kind == "assigned"]
    assert assigned == [
        ("Ms Lin", "Dr Chen", T0 + H),
        ("system", "Dr Wang", T0 + 2 * H),
        ("manager", "Dr Wu", T0 + 3 * H),
    ]


# --------------------------------------------------------------------------- list and breached


def test_list_filters_and_order(crm: ClinicCRM, cid: int, make_case: CaseFactory) -> None:
    late = make_case(at=T0 + 2 * H)
    early = make_case(at=T0, kind="question", channel="sms")
    same_time = make_case(at=T0 + 2 * H, kind="suggestion", channel="web")
    other = crm.clinics.create("Other", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    crm.feedback.record(other.id, kind="complaint", channel="phone", text="x", at=T0)  # type: ignore[arg-type]
    assert [c.id for c in crm.feedback.list(cid, now=T0)] == [early.id, late.id, same_time.id]
    assert [c.id for c in crm.feedback.list(cid, kind="question", now=T0)] == [early.id]
    assert late.id is not None
    crm.feedback.acknowledge(late.id, at=T0 + 3 * H, by="A")
    assert [c.id for c in crm.feedback.list(cid, status="acknowledged", now=T0)] == [late.id]
    assert [c.id for c in crm.feedback.list(cid, status="open", now=T0)] == [early.id, same_time.id]
    assert crm.feedback.list(cid, status="resolved", kind="complaint", now=T0) == []
    with pytest.raises(ValidationError) as info:
        crm.feedback.list(cid, status="closed")
    assert info.value.field == "status"
    with pytest.raises(ValidationError) as info:
        crm.feedback.list(cid, kind="rant")
    assert info.value.field == "kind"
    with pytest.raises(NaiveDatetimeError):
        crm.feedback.list(cid, breached=True, now=T0.replace(tzinfo=None))
    with pytest.raises(NotFound):
        crm.feedback.list(999)


def test_breached_semantics(crm: ClinicCRM, cid: int, make_case: CaseFactory) -> None:
    urgent = make_case(priority="urgent")  # acknowledge within 4 hours
    on_time = make_case(priority="urgent")
    late = make_case(priority="urgent")
    exactly = make_case(priority="urgent")
    for case in (urgent, on_time, late, exactly):
        assert case.id is not None
    crm.feedback.acknowledge(on_time.id, at=T0 + 3 * H, by="A")  # type: ignore[arg-type]
    crm.feedback.acknowledge(exactly.id, at=T0 + 4 * H, by="A")  # type: ignore[arg-type]

    def breached(now: datetime) -> list[int | None]:
        return [c.id for c in crm.feedback.list(cid, breached=True, now=now)]

    assert breached(T0 + 4 * H) == []  # due == now is not yet past due
    assert breached(T0 + 4 * H + timedelta(seconds=1)) == [urgent.id, late.id]
    crm.feedback.acknowledge(late.id, at=T0 + 5 * H, by="A")  # type: ignore[arg-type]
    crm.feedback.resolve(late.id, at=T0 + 6 * H, by="A", resolution="done")  # type: ignore[arg-type]
    assert breached(T0 + 7 * H) == [urgent.id, late.id]  # the late act stays breached for good
    # a year on, the unresolved ones have missed their resolve due time too
    assert breached(T0 + 365 * DAY) == [urgent.id, on_time.id, late.id, exactly.id]
    not_breached = [c.id for c in crm.feedback.list(cid, breached=False, now=T0 + 7 * H)]
    assert not_breached == [on_time.id, exactly.id]


def test_a_late_resolution_stays_breached_after_reopening(crm: ClinicCRM, cid: int, make_case: CaseFactory) -> None:
    crm.feedback.set_policy(cid, kind="complaint", acknowledge_within=None, resolve_within=timedelta(hours=2), at=T0)
    case = make_case()
    assert case.id is not None
    crm.feedback.resolve(case.id, at=T0 + 3 * H, by="A", resolution="late")
    crm.feedback.reopen(case.id, at=T0 + 4 * H, by="A", reason="again")
    assert crm.feedback.get(case.id).resolve_due_at == T0 + 6 * H
    crm.feedback.resolve(case.id, at=T0 + 5 * H, by="A", resolution="on time this time")
    assert [c.id for c in crm.feedback.list(cid, breached=True, now=T0 + 10 * H)] == [case.id]
    assert [c.id for c in crm.feedback.list(cid, breached=True, now=T0 + H)] == []


def test_list_breached_agrees_with_the_pure_rule(crm: ClinicCRM, cid: int, make_case: CaseFactory) -> None:
    crm.feedback.set_policy(
        cid, kind="question", acknowledge_within=timedelta(hours=1), resolve_within=timedelta(hours=3), at=T0
    )
    cases = [make_case(kind="question", at=T0 + i * H) for i in range(6)]
    for i, case in enumerate(cases):
        assert case.id is not None
        if i % 3 != 0:
            crm.feedback.acknowledge(case.id, at=case.received_at + (i % 4) * H, by="A")
        if i % 2 == 0:
            crm.feedback.resolve(case.id, at=case.received_at + (i + 1) * H, by="A", resolution="ok")
    for hours in range(0, 14):
        now = T0 + hours * H
        listed = {c.id for c in crm.feedback.list(cid, breached=True, now=now)}
        expected = set()
        for case in crm.feedback.list(cid, now=now):
            clocks = Clocks(case.acknowledge_due_at, case.acknowledged_at, case.resolve_due_at, case.resolved_at)
            if is_breached(clocks, now):
                expected.add(case.id)
        assert listed == expected
        assert crm.feedback.sla(clinic_id=cid, now=now).breached == len(expected)  # type: ignore[union-attr]
