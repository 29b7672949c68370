"""Statements: draft, revise (versions), approve (every approver role), publish (staff first, publishers,
idempotency keys, drills), and notices to patients through the reminder engine."""

from __future__ import annotations

from datetime import timedelta

import pytest

from clinic_crm import (
    ClinicCRM,
    Conflict,
    DeliveryError,
    InvalidTransition,
    NotApproved,
    NotFound,
    PublicPost,
    ValidationError,
)
from clinic_crm.testing import FailingPublisher, RecordingPublisher, RecordingSender
from tests.conftest import T0, count_rows
from tests.services.crisis.conftest import IncidentFactory, StatementFactory

H = timedelta(hours=1)
NOON = T0 - 5 * H  # 12:00 in Taipei


def test_draft_revise_approve_publish(crm: ClinicCRM, declare: IncidentFactory, publisher: RecordingPublisher) -> None:
    iid = declare().id or 0
    draft = crm.incidents.draft(iid, audience="staff", text="Do not talk to the press.", at=T0, by="Amy Lin")
    assert isinstance(draft.id, int)
    assert (draft.incident_id, draft.audience, draft.version, draft.status) == (iid, "staff", 1, "draft")
    assert draft.approvals == [] and draft.published_at is None
    v2 = crm.incidents.revise(draft.id, text="Refer every call to Amy.", at=T0 + H, by="Amy Lin")
    assert (v2.version, v2.status, v2.text) == (2, "draft", "Refer every call to Amy.")
    assert crm.incidents.statement(draft.id).status == "superseded"
    approved = crm.incidents.approve(v2.id or 0, role="lead", by="Dr. Chen", at=T0 + H)
    assert approved.status == "approved"
    assert [(a.role, a.by, a.at) for a in approved.approvals] == [("lead", "Dr. Chen", T0 + H)]
    done = crm.incidents.publish(v2.id or 0, at=T0 + H, publisher=publisher, channels=["intranet"])
    assert (done.status, done.published_at, done.posts) == ("published", T0 + H, {"intranet": "post-1"})
    kinds = [e.kind for e in crm.incidents.timeline(iid)]
    assert kinds == ["declared", "paused", "drafted", "drafted", "approved", "published"]
    assert [s.id for s in crm.incidents.statements(iid)] == [draft.id, v2.id]


def test_draft_validation(crm: ClinicCRM, declare: IncidentFactory) -> None:
    iid = declare().id or 0
    for bad, field in (
        ({"audience": "investors"}, "audience"),
        ({"text": ""}, "text"),
        ({"text": {}}, "text"),
        ({"text": {"en": "We know.", "ja": "知っています"}}, "text"),  # several locales, none the clinic's
        ({"by": " "}, "by"),
    ):
        with pytest.raises(ValidationError) as err:
            crm.incidents.draft(iid, **{"audience": "staff", "text": "x", "at": T0, "by": "Amy"} | bad)  # type: ignore[arg-type]
        assert err.value.field == field
    assert count_rows(crm, "statement") == 0
    with pytest.raises(NotFound):
        crm.incidents.draft(iid + 50, audience="staff", text="x", at=T0, by="Amy")


def test_approval_needs_a_team_role_and_every_approver(crm: ClinicCRM, declare: IncidentFactory) -> None:
    incident = declare()
    crm.crisis.set_approvers(incident.clinic_id, ["lead", "legal"])
    sid = crm.incidents.draft(incident.id or 0, audience="public", text="We know.", at=T0, by="Amy").id or 0
    with pytest.raises(ValidationError) as err:
        crm.incidents.approve(sid, role="medical", by="Dr. Ho", at=T0)  # a role nobody holds
    assert err.value.field == "role"
    with pytest.raises(ValidationError) as err:
        crm.incidents.approve(sid, role="janitor", by="X", at=T0)
    assert err.value.field == "role"
    assert count_rows(crm, "statement_approval") == 0
    half = crm.incidents.approve(sid, role="lead", by="Dr. Chen", at=T0)
    assert half.status == "draft"
    spokes = crm.incidents.approve(sid, role="spokesperson", by="Amy", at=T0)  # held, but not an approver
    assert spokes.status == "draft" and len(spokes.approvals) == 2
    again = crm.incidents.approve(sid, role="lead", by="Dr. Chen", at=T0 + H)  # changes nothing
    assert len(again.approvals) == 2
    with pytest.raises(NotApproved):
        crm.incidents.publish(sid, at=T0)
    full = crm.incidents.approve(sid, role="legal", by="Mr. Wu", at=T0 + H)
    assert full.status == "approved"
    # approvals never carry over to the next version; approving the superseded one is a conflict
    v2 = crm.incidents.revise(sid, text="We know more.", at=T0 + 2 * H, by="Amy")
    assert v2.approvals == [] and v2.status == "draft"
    with pytest.raises(Conflict):
        crm.incidents.approve(sid, role="lead", by="Dr. Chen", at=T0 + 2 * H)
    with pytest.raises(InvalidTransition):
        crm.incidents.revise(sid, text="again", at=T0 + 2 * H, by="Amy")


def test_staff_first_then_external(
    crm: ClinicCRM, declare: IncidentFactory, published: StatementFactory, publisher: RecordingPublisher
) -> None:
    iid = declare().id or 0
    public = crm.incidents.draft(iid, audience="public", text="We know.", at=T0, by="Amy")
    crm.incidents.approve(public.id or 0, role="lead", by="Dr. Chen", at=T0)
    with pytest.raises(NotApproved):
        crm.incidents.publish(public.id or 0, at=T0, publisher=publisher, channels=["website"])
    staff_draft = crm.incidents.draft(iid, audience="staff", text="Heads up.", at=T0, by="Amy")
    crm.incidents.approve(staff_draft.id or 0, role="lead", by="Dr. Chen", at=T0)  # approved, not published
    with pytest.raises(NotApproved):
        crm.incidents.publish(public.id or 0, at=T0, publisher=publisher, channels=["website"])
    assert publisher.posts == [] and crm.incidents.get(iid).first_statement_at is None
    crm.incidents.publish(staff_draft.id or 0, at=T0 + H)
    out = crm.incidents.publish(public.id or 0, at=T0 + H, publisher=publisher, channels=["website", "facebook"])
    assert out.posts == {"website": "post-1", "facebook": "post-2"}
    assert publisher.posts == [
        PublicPost(
            idempotency_key=f"statement-{public.id}-website",
            clinic_id=crm.incidents.get(iid).clinic_id,
            channel="website",
            text="We know.",
            locale="zh_TW",
            kind="statement",
            incident_id=iid,
            statement_id=public.id,
        ),
        PublicPost(
            idempotency_key=f"statement-{public.id}-facebook",
            clinic_id=crm.incidents.get(iid).clinic_id,
            channel="facebook",
            text="We know.",
            locale="zh_TW",
            kind="statement",
            incident_id=iid,
            statement_id=public.id,
        ),
    ]
    with pytest.raises(NotApproved):  # published once: not again
        crm.incidents.publish(public.id or 0, at=T0 + H, publisher=publisher, channels=["website"])
    assert len(publisher.posts) == 2


def test_post_locale(
    crm: ClinicCRM, declare: IncidentFactory, published: StatementFactory, publisher: RecordingPublisher
) -> None:
    iid = declare().id or 0
    published(iid)
    published(iid, "media", text={"en": "We know.", "zh_TW": "我們已知悉。"}, publisher=publisher, channels=["web"])
    published(iid, "public", text={"en": "English only."}, publisher=publisher, channels=["web"])
    assert [(p.text, p.locale) for p in publisher.posts] == [("我們已知悉。", "zh_TW"), ("English only.", "en")]


def test_publish_validation(crm: ClinicCRM, declare: IncidentFactory) -> None:
    iid = declare().id or 0
    sid = crm.incidents.draft(iid, audience="staff", text="x", at=T0, by="Amy").id or 0
    crm.incidents.approve(sid, role="lead", by="Dr. Chen", at=T0)
    with pytest.raises(ValidationError) as err:
        crm.incidents.publish(sid, at=T0, channels=["website"])  # no publisher
    assert err.value.field == "publisher"
    with pytest.raises(ValidationError) as err:
        crm.incidents.publish(sid, at=T0, publisher=RecordingPublisher(), channels=[""])
    assert err.value.field == "channels"
    assert crm.incidents.statement(sid).status == "approved"


def test_a_failing_publisher_records_nothing_and_a_retry_reuses_the_keys(
    crm: ClinicCRM, declare: IncidentFactory, published: StatementFactory
) -> None:
    iid = declare().id or 0
    published(iid)
    sid = crm.incidents.draft(iid, audience="public", text="We know.", at=T0, by="Amy").id or 0
    crm.incidents.approve(sid, role="lead", by="Dr. Chen", at=T0)
    entries = len(crm.incidents.timeline(iid))
    recorder = RecordingPublisher()

    class SecondChannelFails:
        def __init__(self) -> None:
            self.keys: list[str] = []

        def publish(self, post: PublicPost) -> str:
            self.keys.append(post.idempotency_key)
            if post.channel == "facebook":
                raise DeliveryError("timeout", retryable=True)
            return recorder.publish(post)

    flaky = SecondChannelFails()
    with pytest.raises(DeliveryError) as err:
        crm.incidents.publish(sid, at=T0 + H, publisher=flaky, channels=["website", "facebook"])
    assert err.value.retryable
    statement = crm.incidents.statement(sid)
    assert (statement.status, statement.published_at, statement.posts) == ("approved", None, {})
    incident = crm.incidents.get(iid)
    assert incident.first_statement_at is None and incident.next_update_due_at is None
    assert len(crm.incidents.timeline(iid)) == entries
    retry = FailingPublisher(times=0)
    crm.incidents.publish(sid, at=T0 + 2 * H, publisher=retry, channels=["website", "facebook"])
    assert [p.idempotency_key for p in retry.calls] == flaky.keys
    assert crm.incidents.get(iid).first_statement_at == T0 + 2 * H


def test_a_drill_publishes_nothing_but_runs_the_flow(
    crm: ClinicCRM, declare: IncidentFactory, published: StatementFactory, publisher: RecordingPublisher
) -> None:
    drill = declare(drill=True)
    iid = drill.id or 0
    with pytest.raises(NotApproved):  # staff first holds in a drill too
        published(iid, "public", publisher=publisher, channels=["website"])
    published(iid, "staff", publisher=publisher, channels=["intranet"])
    public = next(s for s in crm.incidents.statements(iid) if s.audience == "public")
    crm.incidents.publish(public.id or 0, at=T0 + H, publisher=publisher, channels=["website"])
    assert publisher.posts == []
    assert crm.incidents.statement(public.id or 0).status == "published"
    assert crm.incidents.get(iid).first_statement_at == T0 + H
    assert "drill" in crm.incidents.timeline(iid)[-1].text


# --- notices to patients ---------------------------------------------------------------------------------------


def _patients(crm: ClinicCRM, cid: int) -> list[int]:
    zh = crm.patients.register(cid, family_name="王", given_name="小明", phone="0912-000-111")
    en = crm.patients.register(cid, family_name="Smith", given_name="Ann", phone="0912-000-222", locale="en_US")
    return [zh.id or 0, en.id or 0]


def test_notify_patients_makes_care_reminders_in_the_patients_locale(
    crm: ClinicCRM, declare: IncidentFactory, published: StatementFactory
) -> None:
    incident = declare(at=NOON - 2 * H)  # pauses marketing: the notices are care and still go out
    iid = incident.id or 0
    ids = _patients(crm, incident.clinic_id)
    published(iid, at=NOON - 2 * H)
    text = {"zh_TW": "您的預約資料可能外洩。", "en": "Your appointment data may have leaked."}
    notice = published(iid, "patients", text=text, at=NOON - H)
    assert crm.incidents.notify_patients(notice.id or 0, patient_ids=ids, at=NOON - H) == 2
    assert crm.incidents.notify_patients(notice.id or 0, patient_ids=ids, at=NOON) == 0  # once per patient
    reminders = crm.reminders.list(clinic_id=incident.clinic_id, kind="incident_notice")
    assert [(r.purpose, r.due_at, r.status) for r in reminders] == [("care", NOON - H, "pending")] * 2
    sender = RecordingSender()
    report = crm.reminders.dispatch(sender, now=NOON)
    assert report.sent == 2 and report.held == 0
    bodies = {m.patient_id: m.body for m in sender.messages}
    assert "您的預約資料可能外洩。" in bodies[ids[0]]
    assert "Your appointment data may have leaked." in bodies[ids[1]]
    assert crm.reminders.dispatch(sender, now=NOON + H).sent == 0  # exactly once


def test_notices_respect_care_consent(crm: ClinicCRM, declare: IncidentFactory, published: StatementFactory) -> None:
    incident = declare(at=NOON - 2 * H)
    iid = incident.id or 0
    ids = _patients(crm, incident.clinic_id)
    crm.patients.withdraw_consent(ids[0], "sms", "care", source="front desk", at=NOON - 3 * H)
    published(iid, at=NOON - 2 * H)
    notice = published(iid, "patients", text="We are sorry.", at=NOON - H)
    crm.incidents.notify_patients(notice.id or 0, patient_ids=ids, at=NOON - H)
    sender = RecordingSender()
    report = crm.reminders.dispatch(sender, now=NOON)
    assert (report.sent, report.suppressed) == (1, 1)
    assert [m.patient_id for m in sender.messages] == [ids[1]]


def test_notify_needs_a_published_patients_statement(
    crm: ClinicCRM, declare: IncidentFactory, published: StatementFactory
) -> None:
    incident = declare()
    iid = incident.id or 0
    ids = _patients(crm, incident.clinic_id)
    staff = published(iid)
    with pytest.raises(Conflict):
        crm.incidents.notify_patients(staff.id or 0, patient_ids=ids, at=T0)
    draft = crm.incidents.draft(iid, audience="patients", text="x", at=T0, by="Amy")
    with pytest.raises(Conflict):
        crm.incidents.notify_patients(draft.id or 0, patient_ids=ids, at=T0)
    notice = published(iid, "patients", text="We are sorry.")
    other = crm.clinics.create("Other", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    stranger = crm.patients.register(other.id or 0, family_name="李", given_name="四", phone="0912-000-333")
    for bad in ([stranger.id], ["1"], "1"):
        with pytest.raises(ValidationError) as err:
            crm.incidents.notify_patients(notice.id or 0, patient_ids=bad, at=T0)  # type: ignore[arg-type]
        assert err.value.field == "patient_ids"
    assert count_rows(crm, "reminder") == 0


def test_a_drill_notifies_nobody(crm: ClinicCRM, declare: IncidentFactory, published: StatementFactory) -> None:
    drill = declare(drill=True)
    iid = drill.id or 0
    ids = _patients(crm, drill.clinic_id)
    published(iid)
    notice = published(iid, "patients", text="Drill.")
    assert crm.incidents.notify_patients(notice.id or 0, patient_ids=ids, at=T0) == 0
    assert count_rows(crm, "reminder") == 0
