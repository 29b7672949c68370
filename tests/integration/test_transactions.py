"""One call, one transaction; ``crm.transaction()`` and ``crm.bind(session)`` share one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from clinic_crm import ClinicCRM, DuplicatePatient, InvalidPhoneNumber
from clinic_crm.models import Clinic
from tests.conftest import T0, count_rows


def test_transaction_commits_together(crm: ClinicCRM, clinic: Clinic) -> None:
    with crm.transaction() as tx:
        patient = tx.patients.register(clinic.id, family_name="王", given_name="小明")  # type: ignore[arg-type]
        tx.visits.book(patient.id, starts_at=T0, kind="checkup")  # type: ignore[arg-type]
    assert count_rows(crm, "patient") == 1 and count_rows(crm, "visit") == 1


def test_transaction_rolls_back_everything(crm: ClinicCRM, clinic: Clinic) -> None:
    with pytest.raises(RuntimeError), crm.transaction() as tx:
        patient = tx.patients.register(clinic.id, family_name="王", given_name="小明")  # type: ignore[arg-type]
        tx.visits.book(patient.id, starts_at=T0, kind="checkup")  # type: ignore[arg-type]
        raise RuntimeError("host failure")
    assert count_rows(crm, "patient") == 0 and count_rows(crm, "visit") == 0


def test_failed_call_inside_transaction_leaves_nothing_but_others_commit(crm: ClinicCRM, clinic: Clinic) -> None:
    with crm.transaction() as tx:
        tx.patients.register(clinic.id, family_name="A", given_name="B", external_id="X")  # type: ignore[arg-type]
        with pytest.raises(DuplicatePatient):
            tx.patients.register(clinic.id, family_name="C", given_name="D", external_id="X")  # type: ignore[arg-type]
        with pytest.raises(InvalidPhoneNumber):
            tx.patients.register(clinic.id, family_name="E", given_name="F", phone="1")  # type: ignore[arg-type]
        tx.patients.register(clinic.id, family_name="G", given_name="H")  # type: ignore[arg-type]
    assert count_rows(crm, "patient") == 2


def test_bind_runs_inside_host_session(crm: ClinicCRM, clinic: Clinic) -> None:
    with Session(crm.engine) as session:
        scoped = crm.bind(session)
        patient = scoped.patients.register(clinic.id, family_name="王", given_name="小明")  # type: ignore[arg-type]
        scoped.visits.book(patient.id, starts_at=T0 + timedelta(days=1), kind="checkup")  # type: ignore[arg-type]
        session.rollback()
    assert count_rows(crm, "patient") == 0
    with Session(crm.engine) as session:
        scoped = crm.bind(session)
        scoped.patients.register(clinic.id, family_name="王", given_name="小明")  # type: ignore[arg-type]
        session.commit()
    assert count_rows(crm, "patient") == 1


def test_crm_from_engine_and_context_manager(db_url: str) -> None:
    from clinic_crm.db import create_crm_engine

    engine = create_crm_engine(db_url)
    with ClinicCRM(engine) as crm:
        clinic = crm.clinics.create("X", timezone="UTC", locale="en_US", region="US")
        assert crm.clinics.get(clinic.id).name == "X"  # type: ignore[arg-type]
    with engine.connect():  # the host's engine is not disposed by the facade
        pass
    engine.dispose()


def test_dry_run_does_the_real_work_and_keeps_nothing(crm: ClinicCRM, clinic: Clinic) -> None:
    from clinic_crm.testing import RecordingSender

    patient = crm.patients.register(clinic.id, family_name="王", given_name="小明", phone="0912345678")  # type: ignore[arg-type]
    due = T0.replace(hour=3)  # 11:00 in Taipei, outside quiet hours
    reminder = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=due)  # type: ignore[arg-type]
    sender = RecordingSender()
    with crm.dry_run() as trial:
        trial.patients.register(clinic.id, family_name="李", given_name="大同")  # type: ignore[arg-type]
        report = trial.reminders.dispatch(sender, now=due)  # dispatch's own commits become savepoints
        assert report.sent == 1 and trial.reminders.get(reminder.id).status == "sent"  # type: ignore[arg-type]
    assert len(sender.messages) == 1
    assert count_rows(crm, "patient") == 1
    assert crm.reminders.get(reminder.id).status == "pending"  # type: ignore[arg-type]
