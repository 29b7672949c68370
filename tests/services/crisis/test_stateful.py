"""The incident lifecycle and statement versions/approvals as Hypothesis state machines, checked against
plain-Python models on both databases."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from clinic_crm import ClinicCRM, Conflict, InvalidTransition, NotApproved, ValidationError
from clinic_crm.models import Clinic
from clinic_crm.testing import RecordingPublisher
from tests.conftest import T0

SETTINGS = settings(
    max_examples=15,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass
class ModelIncident:
    drill: bool
    purposes: frozenset[str]
    declared: object
    open: bool = True
    kinds: list[str] = field(default_factory=list)


class IncidentLifecycle(RuleBasedStateMachine):
    """Declare, close, pause and resume by hand, let time pass; pauses, overdue and timelines follow the model."""

    crm: ClinicCRM
    clinic: Clinic

    def __init__(self) -> None:
        super().__init__()
        self.cid = self.clinic.id or 0
        self.crm.reminders.resume(self.cid)
        for incident in self.crm.incidents.list(self.cid, status="open"):  # left by an earlier example
            self.crm.incidents.close(incident.id or 0, at=T0, by="reset", summary="reset")
        self.now = T0 + timedelta(days=1)
        self.incidents: dict[int, ModelIncident] = {}
        self.manual: set[str] = set()

    @rule(drill=st.booleans(), purposes=st.sets(st.sampled_from(["care", "marketing"])))
    def declare(self, drill: bool, purposes: set[str]) -> None:
        incident = self.crm.incidents.declare(
            self.cid, title="t", crisis_type="other", at=self.now, by="lead", drill=drill, pause=sorted(purposes)
        )
        kinds = ["declared"] + (["paused"] if purposes and not drill else [])
        self.incidents[incident.id or 0] = ModelIncident(drill, frozenset(purposes), self.now, kinds=kinds)

    @precondition(lambda self: bool(self.incidents))
    @rule(data=st.data())
    def close(self, data: st.DataObject) -> None:
        iid = data.draw(st.sampled_from(sorted(self.incidents)))
        model = self.incidents[iid]
        try:
            self.crm.incidents.close(iid, at=self.now, by="lead", summary="s")
        except InvalidTransition:
            assert not model.open
        else:
            assert model.open
            model.open = False
            model.kinds.append("closed")

    @rule(purposes=st.sets(st.sampled_from(["care", "marketing"]), min_size=1))
    def pause(self, purposes: set[str]) -> None:
        self.crm.reminders.pause(self.cid, purposes=sorted(purposes), reason="by hand", at=self.now)
        self.manual |= purposes

    @rule()
    def resume(self) -> None:
        self.crm.reminders.resume(self.cid, at=self.now)
        self.manual.clear()

    @rule(minutes=st.integers(1, 240))
    def wait(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule(text=st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=20).filter(str.strip))
    def note(self, text: str) -> None:
        if self.incidents:
            iid = max(self.incidents)
            self.crm.incidents.log(iid, at=self.now, by="lead", text=text)
            self.incidents[iid].kinds.append("note")

    @invariant()
    def pauses_follow_the_model(self) -> None:
        active = [p for p in self.crm.reminders.pauses(self.cid) if p.resumed_at is None]
        expected = set(self.manual)
        for model in self.incidents.values():
            if model.open and not model.drill:
                expected |= model.purposes
        assert {p.purpose for p in active} == expected
        assert {p.purpose for p in active if p.incident_id is None} == self.manual

    @invariant()
    def overdue_follows_the_model(self) -> None:
        found = {i.id for i in self.crm.incidents.overdue(clinic_id=self.cid, now=self.now)}
        expected = {
            iid
            for iid, m in self.incidents.items()
            if m.open and not m.drill and self.now > m.declared + timedelta(hours=2)  # type: ignore[operator]
        }
        assert found == expected

    @invariant()
    def timelines_are_append_only(self) -> None:
        for iid, model in self.incidents.items():
            assert [e.kind for e in self.crm.incidents.timeline(iid)] == model.kinds


def test_incident_lifecycle_matches_the_model(crm: ClinicCRM, clinic: Clinic) -> None:
    IncidentLifecycle.crm = crm
    IncidentLifecycle.clinic = clinic
    run_state_machine_as_test(IncidentLifecycle, settings=SETTINGS)


@dataclass
class ModelVersion:
    audience: str
    series: int
    status: str = "draft"
    approvals: set[str] = field(default_factory=set)


APPROVERS = ("lead", "legal")
HELD = ("lead", "legal", "spokesperson")


class StatementVersions(RuleBasedStateMachine):
    """Draft, revise, approve, publish in any order: statuses, approvals and errors follow the model."""

    crm: ClinicCRM
    clinic: Clinic

    def __init__(self) -> None:
        super().__init__()
        cid = self.clinic.id or 0
        for role in HELD:
            self.crm.crisis.set_member(cid, role=role, name=role.title(), phone="0912-345-678")
        self.crm.crisis.set_approvers(cid, APPROVERS)
        incident = self.crm.incidents.declare(cid, title="t", crisis_type="other", at=T0, by="lead", pause=())
        self.iid = incident.id or 0
        self.versions: dict[int, ModelVersion] = {}
        self.staff_told = False
        self.publisher = RecordingPublisher()
        self.posts = 0

    @rule(audience=st.sampled_from(["staff", "patients", "public", "media"]))
    def draft(self, audience: str) -> None:
        statement = self.crm.incidents.draft(self.iid, audience=audience, text="t", at=T0, by="x")
        sid = statement.id or 0
        self.versions[sid] = ModelVersion(audience, series=sid)

    def _pick(self, data: st.DataObject) -> int:
        return data.draw(st.sampled_from(sorted(self.versions)))

    @precondition(lambda self: bool(self.versions))
    @rule(data=st.data())
    def revise(self, data: st.DataObject) -> None:
        sid = self._pick(data)
        old = self.versions[sid]
        try:
            new = self.crm.incidents.revise(sid, text="t2", at=T0, by="x")
        except InvalidTransition:
            assert old.status == "superseded"
        else:
            assert old.status != "superseded"
            old.status = "superseded"
            self.versions[new.id or 0] = ModelVersion(old.audience, series=old.series)

    @precondition(lambda self: bool(self.versions))
    @rule(data=st.data(), role=st.sampled_from([*HELD, "medical"]))
    def approve(self, data: st.DataObject, role: str) -> None:
        sid = self._pick(data)
        model = self.versions[sid]
        try:
            self.crm.incidents.approve(sid, role=role, by="x", at=T0)
        except ValidationError as err:
            assert err.field == "role" and role not in HELD
        except Conflict:
            assert role in HELD and model.status in ("superseded", "published")
        else:
            assert role in HELD and model.status in ("draft", "approved")
            model.approvals.add(role)
            if model.status == "draft" and set(APPROVERS) <= model.approvals:
                model.status = "approved"

    @precondition(lambda self: bool(self.versions))
    @rule(data=st.data())
    def publish(self, data: st.DataObject) -> None:
        sid = self._pick(data)
        model = self.versions[sid]
        allowed = model.status == "approved" and (model.audience == "staff" or self.staff_told)
        try:
            self.crm.incidents.publish(sid, at=T0, publisher=self.publisher, channels=["web"])
        except NotApproved:
            assert not allowed
        else:
            assert allowed
            model.status = "published"
            self.posts += 1
            self.staff_told |= model.audience == "staff"

    @invariant()
    def versions_follow_the_model(self) -> None:
        found = {s.id: s for s in self.crm.incidents.statements(self.iid)}
        assert set(found) == set(self.versions)
        for sid, model in self.versions.items():
            statement = found[sid]
            assert statement.status == model.status
            assert {a.role for a in statement.approvals} == model.approvals
        assert len(self.publisher.posts) == self.posts

    @invariant()
    def one_live_version_per_statement(self) -> None:
        live: dict[int, int] = {}
        for model in self.versions.values():
            if model.status != "superseded":
                live[model.series] = live.get(model.series, 0) + 1
        assert all(count == 1 for count in live.values())


def test_statement_versions_match_the_model(crm: ClinicCRM, clinic: Clinic) -> None:
    StatementVersions.crm = crm
    StatementVersions.clinic = clinic
    run_state_machine_as_test(StatementVersions, settings=SETTINGS)
