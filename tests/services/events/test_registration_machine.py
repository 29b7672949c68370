"""Registrations as a Hypothesis rule-based state machine against a plain model, on both databases.

The model keeps the registrations in the order they came and seats them first come, first served;
after every step the database must agree with it, and the seats held never exceed the capacity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from clinic_crm import ClinicCRM, Conflict, InvalidTransition, ValidationError
from tests.conftest import T0

from .conftest import ENDS, STARTS

HOLDING = ("registered", "attended", "no_show")


@dataclass
class Model:
    """What the contract says the registrations of one event should be."""

    capacity: int | None
    status: str = "scheduled"
    order: list[int] = field(default_factory=list)  # registration ids in the order they came
    seats: dict[int, int] = field(default_factory=dict)
    state: dict[int, str] = field(default_factory=dict)
    patient: dict[int, int] = field(default_factory=dict)

    def held(self) -> int:
        return sum(self.seats[r] for r in self.order if self.state[r] in HOLDING)

    def fits(self, seats: int) -> bool:
        return self.capacity is None or self.held() + seats <= self.capacity

    def promote(self) -> None:
        for r in self.order:
            if self.state[r] != "waitlisted":
                continue
            if not self.fits(self.seats[r]):
                return
            self.state[r] = "registered"

    def expected_register(self, patient: int, seats: int) -> str | type[Exception]:
        if self.status != "scheduled":
            return Conflict
        if self.capacity is not None and seats > self.capacity:
            return ValidationError
        if any(self.patient[r] == patient and self.state[r] != "cancelled" for r in self.order):
            return Conflict
        waiting = any(self.state[r] == "waitlisted" for r in self.order)
        return "registered" if self.fits(seats) and not waiting else "waitlisted"


def run_machine(crm: ClinicCRM) -> None:
    clinic = crm.clinics.create("Machine", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    patients = [
        crm.patients.register(clinic.id, family_name="王", given_name=f"小明{n}").id  # type: ignore[arg-type]
        for n in range(5)
    ]

    class RegistrationMachine(RuleBasedStateMachine):
        registrations = Bundle("registrations")

        def __init__(self) -> None:
            super().__init__()
            self.model = Model(capacity=4)
            # a fresh event per example: the database outlives each run of the machine
            self.event_id = crm.events.create(
                clinic.id,  # type: ignore[arg-type]
                title="Machine talk",
                kind="other",
                starts_at=STARTS,
                ends_at=ENDS,
                location="Room",
                capacity=4,
                now=T0,
            ).id

        @rule(target=registrations, who=st.integers(0, len(patients) - 1), seats=st.integers(1, 3))
        def register(self, who: int, seats: int) -> int:
            expected = self.model.expected_register(patients[who], seats)  # type: ignore[arg-type]
            if isinstance(expected, type):
                with pytest.raises(expected):
                    crm.events.register(self.event_id, patient_id=patients[who], at=T0, seats=seats)  # type: ignore[arg-type]
                return -1
            registration = crm.events.register(self.event_id, patient_id=patients[who], at=T0, seats=seats)  # type: ignore[arg-type]
            assert registration.status == expected
            rid = registration.id
            self.model.order.append(rid)
            self.model.seats[rid] = seats
            self.model.state[rid] = expected
            self.model.patient[rid] = patients[who]  # type: ignore[assignment]
            return rid

        @rule(rid=registrations)
        def cancel(self, rid: int) -> None:
            if rid < 0:
                return
            current = self.model.state[rid]
            if current not in ("registered", "waitlisted"):
                with pytest.raises(InvalidTransition):
                    crm.events.cancel_registration(rid, at=T0)
                return
            if self.model.status != "scheduled":
                with pytest.raises(Conflict):
                    crm.events.cancel_registration(rid, at=T0)
                return
            assert crm.events.cancel_registration(rid, at=T0).status == "cancelled"
            self.model.state[rid] = "cancelled"
            if current == "registered":
                self.model.promote()

        @rule(rid=registrations)
        def check_in(self, rid: int) -> None:
            if rid < 0:
                return
            if self.model.state[rid] != "registered":
                with pytest.raises(InvalidTransition):
                    crm.events.check_in(rid, at=STARTS)
                return
            if self.model.status != "scheduled":
                with pytest.raises(Conflict):
                    crm.events.check_in(rid, at=STARTS)
                return
            assert crm.events.check_in(rid, at=STARTS).status == "attended"
            self.model.state[rid] = "attended"

        @rule(capacity=st.one_of(st.none(), st.integers(1, 8)))
        def change_capacity(self, capacity: int | None) -> None:
            if self.model.status != "scheduled" or (capacity is not None and capacity < self.model.held()):
                with pytest.raises(Conflict):
                    crm.events.update(self.event_id, at=T0, capacity=capacity)
                return
            assert crm.events.update(self.event_id, at=T0, capacity=capacity).capacity == capacity
            self.model.capacity = capacity
            self.model.promote()

        @rule()
        def close(self) -> None:
            if self.model.status != "scheduled":
                with pytest.raises(InvalidTransition):
                    crm.events.close(self.event_id, at=ENDS)
                return
            crm.events.close(self.event_id, at=ENDS)
            self.model.status = "closed"
            for rid in self.model.order:
                if self.model.state[rid] == "registered":
                    self.model.state[rid] = "no_show"

        @invariant()
        def database_agrees(self) -> None:
            stored = crm.events.registrations(self.event_id)
            assert [r.id for r in stored] == self.model.order
            assert {r.id: r.status for r in stored} == self.model.state
            event = crm.events.get(self.event_id)
            held = sum(r.seats for r in stored if r.status in HOLDING)
            assert event.seats_taken == held == self.model.held()
            if event.capacity is not None:
                assert held <= event.capacity

    RegistrationMachine.TestCase.settings = settings(
        max_examples=20, stateful_step_count=15, deadline=None, suppress_health_check=list(HealthCheck)
    )
    RegistrationMachine.TestCase().runTest()


def test_registration_state_machine(crm: ClinicCRM) -> None:
    run_machine(crm)
