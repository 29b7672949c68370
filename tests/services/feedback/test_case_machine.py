"""The case lifecycle as a Hypothesis state machine against a plain-Python model, on both databases.

Rules: record, acknowledge, resolve, reopen, assign and let time pass.  After every step each case's status,
acts, deadlines and history match the model, and ``list(breached=True)`` / ``sla().breached`` agree with the model's
breach rule written out here afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from clinic_crm import ClinicCRM, InvalidTransition
from tests.conftest import T0

H = timedelta(hours=1)
ACK, RES = timedelta(hours=3), timedelta(hours=8)  # the machine's policy: clock time, so the model can count


@dataclass
class ModelCase:
    received_at: datetime
    status: str = "open"
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    resolve_due_at: datetime | None = None
    missed_before: datetime | None = None
    events: list[str] = field(default_factory=lambda: ["recorded"])
    assigned_to: str | None = None

    @property
    def acknowledge_due_at(self) -> datetime:
        return self.received_at + ACK

    def breached(self, now: datetime) -> bool:
        def late(due: datetime | None, done: datetime | None) -> bool:
            return due is not None and now > due and (done is None or done > due)

        return (
            late(self.acknowledge_due_at, self.acknowledged_at)
            or late(self.resolve_due_at, self.resolved_at)
            or (self.missed_before is not None and now > self.missed_before)
        )


def run_machine(crm: ClinicCRM) -> None:
    clinic = crm.clinics.create("Machine", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    assert clinic.id is not None
    cid = clinic.id
    crm.feedback.set_policy(cid, kind="complaint", acknowledge_within=ACK, resolve_within=RES, at=T0)

    class CaseMachine(RuleBasedStateMachine):
        cases = Bundle("cases")

        def __init__(self) -> None:
            super().__init__()
            self.model: dict[int, ModelCase] = {}
            self.now = T0
            # the database outlives each run of the machine: only this run's cases are compared
            self.known = {c.id for c in crm.feedback.list(cid, now=T0)}

        @rule(target=cases)
        def record(self) -> int:
            case = crm.feedback.record(cid, kind="complaint", channel="phone", text="text", at=self.now)
            assert case.id is not None
            self.model[case.id] = ModelCase(self.now)
            assert case.acknowledge_due_at == self.now + ACK and case.resolve_due_at == self.now + RES
            self.model[case.id].resolve_due_at = self.now + RES
            return case.id

        @rule(hours=st.integers(0, 6))
        def wait(self, hours: int) -> None:
            self.now += hours * H

        @rule(case_id=cases)
        def acknowledge(self, case_id: int) -> None:
            m = self.model[case_id]
            if m.status != "open":
                with pytest.raises(InvalidTransition):
                    crm.feedback.acknowledge(case_id, at=self.now, by="A")
                return
            crm.feedback.acknowledge(case_id, at=self.now, by="A")
            m.status, m.acknowledged_at = "acknowledged", self.now
            m.events.append("acknowledged")

        @rule(case_id=cases)
        def resolve(self, case_id: int) -> None:
            m = self.model[case_id]
            if m.status == "resolved":
                with pytest.raises(InvalidTransition):
                    crm.feedback.resolve(case_id, at=self.now, by="B", resolution="done")
                return
            crm.feedback.resolve(case_id, at=self.now, by="B", resolution="done")
            if m.status == "open":
                m.acknowledged_at = self.now
                m.events.append("acknowledged")
            m.status, m.resolved_at = "resolved", self.now
            m.events.append("resolved")

        @rule(case_id=cases)
        def reopen(self, case_id: int) -> None:
            m = self.model[case_id]
            if m.status != "resolved":
                with pytest.raises(InvalidTransition):
                    crm.feedback.reopen(case_id, at=self.now, by="C", reason="again")
                return
            crm.feedback.reopen(case_id, at=self.now, by="C", reason="again")
            assert m.resolved_at is not None and m.resolve_due_at is not None
            if m.resolved_at > m.resolve_due_at and m.missed_before is None:
                m.missed_before = m.resolve_due_at
            m.status, m.resolved_at, m.resolve_due_at = "acknowledged", None, self.now + RES
            m.events.append("reopened")

        @rule(case_id=cases, to=st.sampled_from(["Dr Lin", "Dr Chen"]))
        def assign(self, case_id: int, to: str) -> None:
            crm.feedback.assign(case_id, to=to, at=self.now, by="D")
            self.model[case_id].assigned_to = to
            self.model[case_id].events.append("assigned")

        @invariant()
        def database_agrees(self) -> None:
            stored = {c.id: c for c in crm.feedback.list(cid, now=self.now) if c.id not in self.known}
            assert set(stored) == set(self.model)
            for case_id, m in self.model.items():
                case = stored[case_id]
                assert (case.status, case.acknowledged_at, case.resolved_at, case.resolve_due_at) == (
                    m.status,
                    m.acknowledged_at,
                    m.resolved_at,
                    m.resolve_due_at,
                )
                assert case.assigned_to == m.assigned_to
                assert (case.resolution is None) == (m.status != "resolved")
                assert [e.kind for e in crm.feedback.history(case_id)] == m.events
            breached = {c.id for c in crm.feedback.list(cid, breached=True, now=self.now)} - self.known
            assert breached == {i for i, m in self.model.items() if m.breached(self.now)}

    CaseMachine.TestCase.settings = settings(
        max_examples=12, stateful_step_count=15, deadline=None, suppress_health_check=list(HealthCheck)
    )
    CaseMachine.TestCase().runTest()


def test_case_state_machine(crm: ClinicCRM) -> None:
    run_machine(crm)
