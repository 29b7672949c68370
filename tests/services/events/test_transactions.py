"""Events inside ``crm.transaction()``: one outer transaction, objects the session already holds, rollback."""

from __future__ import annotations

import pytest

from clinic_crm import ClinicCRM, Conflict
from tests.conftest import T0, count_rows

from .conftest import ENDS, EventFactory, PatientFactory


def test_a_shared_transaction_commits_together_or_not_at_all(
    crm: ClinicCRM, make_event: EventFactory, make_patient: PatientFactory
) -> None:
    event = make_event(capacity=1)
    a, b = make_patient(), make_patient()
    with pytest.raises(RuntimeError), crm.transaction() as tx:
        tx.events.register(event.id, patient_id=a.id, at=T0)
        raise RuntimeError("the host gave up")
    assert count_rows(crm, "event_registration") == 0
    with crm.transaction() as tx:
        held = tx.events.get(event.id)  # the session now holds the event
        first = tx.events.register(event.id, patient_id=a.id, at=T0)
        second = tx.events.register(event.id, patient_id=b.id, at=T0)
        assert (first.status, second.status) == ("registered", "waitlisted")
        with pytest.raises(Conflict):
            tx.events.register(event.id, patient_id=a.id, at=T0)  # the failed call leaves the others alone
        tx.events.cancel_registration(first.id, at=T0)
        assert tx.events.registrations(event.id, status="registered")[0].id == second.id
        tx.events.close(event.id, at=ENDS)
        assert [r.status for r in tx.events.registrations(event.id)] == ["cancelled", "no_show"]
        assert held.seats_taken == 1
    assert [r.status for r in crm.events.registrations(event.id)] == ["cancelled", "no_show"]
