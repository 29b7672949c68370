"""``crm.patients.merge``: one transaction, every record moves, nothing is lost or sent twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinic_crm import ClinicCRM, Conflict, NotFound, ValidationError
from clinic_crm.models import Clinic
from clinic_crm.testing import RecordingSender
from tests.conftest import T0, count_rows
from tests.services.patient_rights.conftest import AnswerFactory, PatientFactory, VisitFactory

LATER = T0 + timedelta(days=2)


def test_records_move_to_the_kept_patient(
    crm: ClinicCRM, rclinic: Clinic, make_patient: PatientFactory, answered: AnswerFactory
) -> None:
    keep, other = make_patient(), make_patient(email="ming@example.com", birth_date="1980-01-02")
    assert keep.id is not None and other.id is not None
    answered(other.id, score=3)  # a detractor: opens a follow-up
    plan = crm.reminders.add_recall(other.id, kind="dental_recall", every="6 months", after_visit_kind="checkup")
    booked = crm.visits.book(other.id, starts_at=LATER, kind="checkup")
    kept = crm.patients.merge(keep.id, other.id, at=T0 + timedelta(days=1), by="Dr. Lin")
    assert kept.id == keep.id
    assert [v.id for v in crm.visits.history(keep.id)][0] == booked.id
    assert len(crm.visits.history(keep.id)) == 2
    assert crm.visits.history(other.id) == []
    exported = crm.patients.export(keep.id)
    assert len(exported["survey_responses"]) == 1
    assert [p["id"] for p in exported["care_plans"]] == [plan.id]
    assert len(exported["follow_ups"]) == 1
    assert all(r["patient_id"] == keep.id for r in exported["reminders"])
    assert [f.patient_id for f in crm.surveys.follow_ups(rclinic.id)] == [keep.id]  # type: ignore[arg-type]
    # blank contact fields filled from the merged record; the kept ones stay
    assert (kept.email, kept.birth_date.isoformat() if kept.birth_date else None) == ("ming@example.com", "1980-01-02")
    assert kept.phone == keep.phone


def test_get_of_the_merged_id_returns_the_kept_patient(crm: ClinicCRM, make_patient: PatientFactory) -> None:
    a, b, c = make_patient(), make_patient(), make_patient()
    assert a.id is not None and b.id is not None and c.id is not None
    crm.patients.merge(b.id, c.id, at=T0, by="Dr. Lin")
    crm.patients.merge(a.id, b.id, at=T0, by="Dr. Lin")
    assert crm.patients.get(c.id).id == a.id  # follows the chain
    assert crm.patients.get(b.id).id == a.id
    assert crm.patients.export(c.id)["patient"]["merged_records"] == [b.id, c.id]
    assert crm.audit.for_patient(a.id)[-2].details == {"asked": b.id}


def test_find_leaves_merged_records_out(crm: ClinicCRM, rclinic: Clinic, make_patient: PatientFactory) -> None:
    a, b = make_patient(phone="0912-000-001"), make_patient(phone="0912-000-001")
    assert a.id is not None and b.id is not None and rclinic.id is not None
    crm.patients.merge(a.id, b.id, at=T0, by="Dr. Lin")
    assert [p.id for p in crm.patients.find(rclinic.id, phone="0912000001")] == [a.id]


def test_external_id_moves_when_the_kept_patient_has_none(
    crm: ClinicCRM, rclinic: Clinic, make_patient: PatientFactory
) -> None:
    a, b = make_patient(), make_patient(external_id="HIS-7")
    assert a.id is not None and b.id is not None and rclinic.id is not None
    assert crm.patients.merge(a.id, b.id, at=T0, by="Dr. Lin").external_id == "HIS-7"
    assert [p.id for p in crm.patients.find(rclinic.id, external_id="HIS-7")] == [a.id]


def test_duplicate_pending_reminder_is_cancelled(crm: ClinicCRM, make_patient: PatientFactory) -> None:
    a, b = make_patient(), make_patient()
    assert a.id is not None and b.id is not None
    mine = crm.reminders.schedule(a.id, kind="new_year", purpose="care", due_at=LATER)
    twin = crm.reminders.schedule(b.id, kind="new_year", purpose="care", due_at=LATER)
    other_time = crm.reminders.schedule(b.id, kind="new_year", purpose="care", due_at=LATER + timedelta(hours=1))
    other_kind = crm.reminders.schedule(b.id, kind="checkup_due", purpose="care", due_at=LATER)
    crm.patients.merge(a.id, b.id, at=T0, by="Dr. Lin")
    assert mine.id and twin.id and other_time.id and other_kind.id
    assert crm.reminders.get(mine.id).status == "pending"
    assert crm.reminders.get(twin.id).status == "cancelled"
    assert crm.reminders.get(other_time.id).status == "pending"
    assert crm.reminders.get(other_kind.id).status == "pending"
    assert crm.reminders.get(other_kind.id).kind == "checkup_due"
    sender = RecordingSender()
    crm.reminders.dispatch(sender, now=LATER + timedelta(hours=2))
    assert sorted(m.reminder_id for m in sender.messages) == sorted([mine.id, other_time.id, other_kind.id])


def test_duplicate_recall_plan_is_ended(crm: ClinicCRM, make_patient: PatientFactory) -> None:
    a, b = make_patient(), make_patient()
    assert a.id is not None and b.id is not None
    crm.reminders.add_recall(a.id, kind="dental_recall", every="6 months", after_visit_kind="checkup")
    crm.reminders.add_recall(b.id, kind="dental_recall", every="6 months", after_visit_kind="checkup")
    crm.patients.merge(a.id, b.id, at=T0, by="Dr. Lin")
    plans = crm.patients.export(a.id)["care_plans"]
    assert [p["active"] for p in plans] == [True, False]


@pytest.mark.parametrize(
    ("keep_events", "merge_events", "expected"),
    [
        ([(0, True)], [(1, False)], False),  # the merged record's later withdrawal wins
        ([(1, False)], [(0, True)], False),
        ([(0, False)], [(1, True)], True),  # a later grant wins
        ([(1, True)], [(1, False)], False),  # a tie: the withdrawal wins
        ([(1, False)], [(1, True)], False),
        ([], [(0, True)], True),
        ([(0, True)], [], True),
    ],
)
def test_consent_is_the_latest_explicit_event_of_either(
    crm: ClinicCRM,
    make_patient: PatientFactory,
    keep_events: list[tuple[int, bool]],
    merge_events: list[tuple[int, bool]],
    expected: bool,
) -> None:
    a, b = make_patient(), make_patient()
    assert a.id is not None and b.id is not None
    for pid, events in ((a.id, keep_events), (b.id, merge_events)):
        for hours, granted in events:
            record = crm.patients.grant_consent if granted else crm.patients.withdraw_consent
            record(pid, "sms", "marketing", source="front desk", at=T0 + timedelta(hours=hours))
    crm.patients.merge(a.id, b.id, at=T0 + timedelta(hours=5), by="Dr. Lin")
    assert crm.patients.has_consent(a.id, "sms", "marketing", at=T0 + timedelta(hours=6)) is expected
    history = crm.patients.consent_history(a.id)
    assert len([e for e in history if e.source != "merge"]) == len(keep_events) + len(merge_events)
    assert all(e.granted is expected for e in history if e.source == "merge")
    # nothing said about care: the default holds, no event written
    assert crm.patients.has_consent(a.id, "email", "care", at=T0 + timedelta(hours=6)) is True


def test_statistics_unchanged(
    crm: ClinicCRM, rclinic: Clinic, make_patient: PatientFactory, answered: AnswerFactory
) -> None:
    a, b = make_patient(), make_patient()
    assert a.id is not None and b.id is not None
    answered(a.id, score=10)
    answered(b.id, score=2)
    before = crm.surveys.nps(clinic_id=rclinic.id)
    crm.patients.merge(a.id, b.id, at=T0 + timedelta(days=1), by="Dr. Lin")
    assert crm.surveys.nps(clinic_id=rclinic.id) == before


def test_refusals_change_nothing(crm: ClinicCRM, rclinic: Clinic, make_patient: PatientFactory) -> None:
    a, b, c = make_patient(), make_patient(), make_patient()
    other_clinic = crm.clinics.create("Other", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    assert other_clinic.id is not None
    stranger = crm.patients.register(other_clinic.id, family_name="王", given_name="小明")
    assert a.id is not None and b.id is not None and c.id is not None and stranger.id is not None
    crm.patients.merge(a.id, b.id, at=T0, by="Dr. Lin")
    events = count_rows(crm, "audit_event")
    with pytest.raises(ValidationError) as info:
        crm.patients.merge(a.id, stranger.id, at=T0, by="Dr. Lin")
    assert info.value.field == "merge_id"
    with pytest.raises(ValidationError):
        crm.patients.merge(c.id, c.id, at=T0, by="Dr. Lin")
    with pytest.raises(Conflict):
        crm.patients.merge(c.id, b.id, at=T0, by="Dr. Lin")  # merging a merged record
    with pytest.raises(Conflict):
        crm.patients.merge(b.id, c.id, at=T0, by="Dr. Lin")  # into a merged record
    with pytest.raises(NotFound):
        crm.patients.merge(c.id, 9999, at=T0, by="Dr. Lin")
    with pytest.raises(ValidationError) as info:
        crm.patients.merge(a.id, c.id, at=T0, by=" ")
    assert info.value.field == "by"
    with pytest.raises(ValidationError):
        crm.patients.merge(a.id, c.id, at=T0.replace(tzinfo=None), by="Dr. Lin")
    assert count_rows(crm, "audit_event") == events
    assert crm.patients.get(c.id).id == c.id


def test_merge_is_audited_on_both_records(crm: ClinicCRM, make_patient: PatientFactory) -> None:
    a, b = make_patient(), make_patient()
    assert a.id is not None and b.id is not None
    crm.as_actor("dr.lin").patients.merge(a.id, b.id, at=T0, by="Dr. Lin")
    for pid in (a.id, b.id):
        event = crm.audit.for_patient(pid)[-1]
        assert (event.action, event.actor) == ("merge", "dr.lin")
        assert (event.details["kept"], event.details["merged"]) == (a.id, b.id)
    assert crm.audit.verify() is True


# --- property: merging never loses a record and never sends twice -----------------------------------------------------

record_plan = st.fixed_dictionaries(
    {
        "visits": st.lists(st.sampled_from(["booked", "completed", "cancelled"]), max_size=2),
        # one record schedules a reminder once (the same one twice is the host's double, not the merge's)
        "reminders": st.lists(
            st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 2), st.booleans()), max_size=3, unique=True
        ),
        "consent": st.lists(
            st.tuples(
                st.sampled_from(["sms", "email"]),
                st.sampled_from(["care", "marketing"]),
                st.integers(0, 2),
                st.booleans(),
            ),
            max_size=3,
        ),  # fmt: skip
        "answers": st.integers(0, 1),
    }
)


def _fill(
    crm: ClinicCRM, pid: int, plan: dict[str, list], answered: AnswerFactory, completed_visit: VisitFactory
) -> None:  # type: ignore[type-arg]
    for n, status in enumerate(plan["visits"]):
        if status == "completed":
            completed_visit(pid, T0 - timedelta(days=n + 1))
        else:
            visit = crm.visits.book(pid, starts_at=LATER + timedelta(days=n), kind="checkup")
            if status == "cancelled":
                assert visit.id is not None
                crm.visits.cancel(visit.id, at=T0)
    for kind, hours, with_visit in plan["reminders"]:
        visit_id = None
        if with_visit:
            visit_id = crm.visits.book(pid, starts_at=LATER + timedelta(days=5), kind="cleaning").id
        crm.reminders.schedule(pid, kind=kind, purpose="care", due_at=T0 + timedelta(hours=hours), visit_id=visit_id)
    for channel, purpose, hours, granted in plan["consent"]:
        record = crm.patients.grant_consent if granted else crm.patients.withdraw_consent
        record(pid, channel, purpose, source="web form", at=T0 - timedelta(hours=hours))
    for n in range(plan["answers"]):
        answered(pid, score=7, done=T0 - timedelta(days=10 + n))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keep_plan=record_plan, merge_plan=record_plan)
def test_merge_never_loses_a_record_and_never_sends_twice(
    crm: ClinicCRM,
    make_patient: PatientFactory,
    answered: AnswerFactory,
    completed_visit: VisitFactory,
    keep_plan: dict[str, list],  # type: ignore[type-arg]
    merge_plan: dict[str, list],  # type: ignore[type-arg]
) -> None:
    a, b = make_patient(), make_patient()
    assert a.id is not None and b.id is not None
    _fill(crm, a.id, keep_plan, answered, completed_visit)
    _fill(crm, b.id, merge_plan, answered, completed_visit)
    before = [crm.patients.export(pid) for pid in (a.id, b.id)]
    crm.patients.merge(a.id, b.id, at=T0, by="Dr. Lin")
    after = crm.patients.export(a.id)
    for section in ("visits", "reminders", "survey_responses", "follow_ups", "care_plans"):
        assert sorted(r["id"] for r in after[section]) == sorted(r["id"] for e in before for r in e[section])
    original_consent = sorted(r["id"] for e in before for r in e["consent"])
    assert [r["id"] for r in after["consent"] if r["source"] != "merge"] == original_consent
    sender = RecordingSender()
    report = crm.reminders.dispatch(sender, now=T0 + timedelta(hours=3))
    ids = [m.reminder_id for m in sender.messages]
    assert len(ids) == len(set(ids)) == report.sent
    sent = [crm.reminders.get(rid) for rid in ids]
    keys = [(r.kind, r.visit_id, r.due_at) for r in sent]
    assert len(keys) == len(set(keys))
    assert crm.reminders.dispatch(sender, now=T0 + timedelta(hours=4)).sent == 0
