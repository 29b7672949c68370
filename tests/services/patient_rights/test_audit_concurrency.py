"""Concurrent writers keep one unbroken audit chain (threads, each with its own facade and connections)."""

from __future__ import annotations

import threading

from clinic_crm import ClinicCRM
from tests.conftest import count_rows
from tests.services.patient_rights.conftest import PatientFactory

THREADS = 4
CALLS = 15


def test_concurrent_reads_and_changes_chain_correctly(
    crm: ClinicCRM, db_url: str, make_patient: PatientFactory
) -> None:
    patients = [make_patient() for _ in range(THREADS)]
    before = count_rows(crm, "audit_event")
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(n: int) -> None:
        try:
            with ClinicCRM(db_url, actor=f"worker {n}") as own:
                start.wait()
                pid = patients[n].id
                assert pid is not None
                for i in range(CALLS):
                    if i % 3 == 0:
                        own.patients.update(pid, email=f"w{n}.{i}@example.com")
                    else:
                        own.patients.get(pid)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert count_rows(crm, "audit_event") == before + THREADS * CALLS
    assert crm.audit.verify() is True
    for n, patient in enumerate(patients):
        assert patient.id is not None
        events = crm.audit.for_patient(patient.id)[1:]
        assert [e.actor for e in events] == [f"worker {n}"] * CALLS
