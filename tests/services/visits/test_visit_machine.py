"""The visit status machine against a plain dict model (Hypothesis rule-based), on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from clinic_crm import ClinicCRM, InvalidTransition
from clinic_crm.models import VISIT_TRANSITIONS
from tests.conftest import T0

ACTIONS = {"check_in": "checked_in", "complete": "completed", "cancel": "cancelled", "mark_no_show": "no_show"}


def run_machine(crm: ClinicCRM) -> None:
    clinic = crm.clinics.create("Machine", timezone="Asia/Taipei", locale="zh_TW", region="TW")

    class VisitMachine(RuleBasedStateMachine):
        visits = Bundle("visits")

        def __init__(self) -> None:
            super().__init__()
            self.model: dict[int, str] = {}
            # a fresh patient per example: the database outlives each run of the machine
            self.patient_id: int = crm.patients.register(clinic.id, family_name="王", given_name="小明").id  # type: ignore[arg-type,assignment]

        @rule(target=visits, hours=st.integers(-1000, 1000))
        def book(self, hours: int) -> int:
            visit = crm.visits.book(self.patient_id, starts_at=T0 + timedelta(hours=hours), kind="checkup")  # type: ignore[arg-type]
            assert visit.id is not None
            self.model[visit.id] = "booked"
            return visit.id

        @rule(visit_id=visits, action=st.sampled_from(sorted(ACTIONS)))
        def move(self, visit_id: int, action: str) -> None:
            target = ACTIONS[action]
            allowed = target in VISIT_TRANSITIONS[self.model[visit_id]]
            if allowed:
                assert getattr(crm.visits, action)(visit_id, at=T0).status == target
                self.model[visit_id] = target
            else:
                with pytest.raises(InvalidTransition):
                    getattr(crm.visits, action)(visit_id, at=T0)

        @invariant()
        def database_agrees(self) -> None:
            stored = {v.id: v.status for v in crm.visits.history(self.patient_id)}
            assert stored == self.model

    VisitMachine.TestCase.settings = settings(
        max_examples=15, stateful_step_count=12, deadline=None, suppress_health_check=list(HealthCheck)
    )
    VisitMachine.TestCase().runTest()


def test_visit_state_machine(crm: ClinicCRM) -> None:
    run_machine(crm)
