"""Concurrent sign-ups never overbook and never lose a registration: 6 real processes, and threads.

The processes reuse the launch-and-wait helpers of ``tests/concurrency`` (``finish``, ``wait_until``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text

from clinic_crm import ClinicCRM
from clinic_crm.models import Clinic
from tests.concurrency.conftest import finish, wait_until
from tests.conftest import T0

from .conftest import EventFactory

WORKER = Path(__file__).with_name("_signup_worker.py")
PROCESSES = 6
PER_PROCESS = 40


def _patients(crm: ClinicCRM, clinic: Clinic, n: int) -> list[int]:
    report = crm.patients.import_rows(
        clinic.id,  # type: ignore[arg-type]
        ({"family_name": "Test", "given_name": f"P{i}", "external_id": f"p-{i}"} for i in range(n)),
    )
    assert report.created == n
    with crm.engine.connect() as conn:
        return [int(r[0]) for r in conn.execute(text("SELECT id FROM patient ORDER BY id"))]


def _check_fifo(crm: ClinicCRM, event_id: int, capacity: int, expected: set[int]) -> int:
    """Every registration is stored once; seats held never exceed capacity; nobody seated behind a waiter."""
    stored = crm.events.registrations(event_id)
    assert {r.id for r in stored} == expected, "a registration was lost or invented"
    assert len({r.patient_id for r in stored}) == len(stored)
    held = sum(r.seats for r in stored if r.status == "registered")
    assert held <= capacity, f"overbooked: {held} seats for {capacity}"
    assert crm.events.get(event_id).seats_taken == held
    statuses = [r.status for r in stored]
    if "waitlisted" in statuses:
        first_waiting = statuses.index("waitlisted")
        assert "registered" not in statuses[first_waiting:], "someone jumped the waitlist"
        # the first who waited did not fit when they came
        assert held + stored[first_waiting].seats > capacity
    return held


@pytest.mark.slow
@pytest.mark.parametrize("seats", ["1", "1,2,3"])
def test_six_processes_never_overbook(
    crm: ClinicCRM, db_url: str, clinic: Clinic, make_event: EventFactory, tmp_path: Path, seats: str
) -> None:
    capacity = 50
    event = make_event(capacity=capacity)
    patients = _patients(crm, clinic, PROCESSES * PER_PROCESS)
    go = tmp_path / "go"
    procs = []
    for n in range(PROCESSES):
        mine = patients[n::PROCESSES]
        args = [
            sys.executable,
            str(WORKER),
            "--db",
            db_url,
            "--event",
            str(event.id),
            "--patients",
            ",".join(map(str, mine)),
            "--seats",
            seats,
            "--ready",
            str(tmp_path / f"{n}.ready"),
            "--go",
            str(go),
        ]
        procs.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        wait_until(lambda: all((tmp_path / f"{n}.ready").exists() for n in range(PROCESSES)), what="workers ready")
        go.touch()
        results = [json.loads(finish(proc, timeout=300)) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
    got = [tuple(r) for result in results for r in result]
    assert len(got) == PROCESSES * PER_PROCESS
    held = _check_fifo(crm, event.id, capacity, {r[0] for r in got})
    stored = {r.id: r.status for r in crm.events.registrations(event.id)}
    assert all(stored[rid] == status for rid, _pid, status in got)  # what each caller was told is what is stored
    if seats == "1":
        assert held == capacity


def test_threads_never_overbook(crm: ClinicCRM, clinic: Clinic, make_event: EventFactory) -> None:
    capacity = 7
    event = make_event(capacity=capacity)
    patients = _patients(crm, clinic, 40)

    def sign_up(patient_id: int) -> int:
        return crm.events.register(event.id, patient_id=patient_id, at=T0, seats=1 + patient_id % 2).id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(sign_up, patients))
    _check_fifo(crm, event.id, capacity, ids)
