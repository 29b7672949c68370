"""Re-imports through the bulk path (binary COPY and the look-up by unique index on PostgreSQL, executemany on
SQLite): existing external ids update, duplicates in the file apply in order, and every patient's audit is there."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from clinic_crm import ClinicCRM, DuplicatePatient
from clinic_crm.models import Clinic
from clinic_crm.services import import_writer
from tests.conftest import count_rows
from tests.services.imports.conftest import by_external_id

HEADER = ["external_id", "family_name", "given_name", "phone", "email", "birth_date"]


def _row(n: int, *, given: str = "", email: str = "", born: str = "") -> list[str]:
    return [f"E{n:04d}", "林", given or f"美{n}", f"0912{n:06d}", email, born]


def _events(crm: ClinicCRM) -> dict[int, list[str]]:
    """Each patient's ``create`` and ``update`` events (oldest first; ``find`` adds ``read`` ones), from the table."""
    found: dict[int, list[str]] = {}
    with crm.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT patient_id, action, detail FROM audit_event"
                " WHERE patient_id IS NOT NULL AND action IN ('create', 'update') ORDER BY id"
            )
        )
        for patient_id, action, detail in rows:
            assert json.loads(detail) == {"via": "import"}
            found.setdefault(int(patient_id), []).append(action)
    return found


def test_reimport_mixed_existing_new_and_repeated_ids(
    crm: ClinicCRM, clinic: Clinic, write_csv: Callable[..., Path]
) -> None:
    """600 rows in chunks of 250 (audit batches large enough for COPY), then a second file that mixes updates of
    existing patients, new patients, and ids repeated within a chunk and across chunks."""
    assert clinic.id is not None
    first = write_csv(HEADER, [_row(n, born="1980-02-29" if n % 7 == 0 else "") for n in range(600)], name="a.csv")
    report = crm.patients.import_csv(clinic.id, first, chunk_size=250)
    assert (report.created, report.updated, report.rejected) == (600, 0, [])
    before = by_external_id(crm, clinic.id)
    assert before["E0007"].birth_date == date(1980, 2, 29) and before["E0008"].birth_date is None

    second: list[list[str]] = []
    expected: dict[str, dict[str, Any]] = {}
    for n in range(0, 600, 3):  # every third existing patient: a new e-mail, the rest kept
        second.append([f"E{n:04d}", "", "", "", f"p{n}@example.com", ""])
        expected[f"E{n:04d}"] = {"email": f"p{n}@example.com", "given_name": f"美{n}"}
    for n in range(600, 900):  # new patients
        second.append(_row(n))
        expected[f"E{n:04d}"] = {"email": None, "given_name": f"美{n}"}
        if n == 660:  # E0650 (row 251) repeated in its own chunk (rows 251-500)
            second.append(["E0650", "", "", "", "same@example.com", ""])
    second.append(["E0600", "", "改名", "", "", ""])  # a new id repeated in a later chunk
    second.append(["E0003", "", "再改", "", "", ""])  # an existing id repeated in a later chunk
    second.append(["", "陳", "無編號", "", "", "2001-01-01"])  # no external id: always a new patient
    expected["E0600"]["given_name"] = "改名"
    expected["E0650"]["email"] = "same@example.com"
    expected["E0003"]["given_name"] = "再改"
    path = write_csv(HEADER, second, name="b.csv")
    report = crm.patients.import_csv(clinic.id, path, chunk_size=250)
    assert (report.created, report.updated, report.rejected) == (301, 200 + 3, [])

    after = by_external_id(crm, clinic.id)
    assert len(after) == 901 and after[None].birth_date == date(2001, 1, 1)
    for key, values in expected.items():
        patient = after[key]
        assert (patient.email, patient.given_name) == (values["email"], values["given_name"]), key
        if key in before:
            assert patient.id == before[key].id and patient.phone == before[key].phone
    assert after["E0001"].email is None and after["E0001"].given_name == "美1"  # not in the second file

    events = _events(crm)
    created_first = {p.id for p in before.values()}
    for patient in after.values():
        assert patient.id is not None
        actions = events[patient.id]
        if patient.id in created_first:
            updates = 2 if patient.external_id == "E0003" else (1 if patient.external_id in expected else 0)
            assert actions == ["create"] + ["update"] * updates, patient.external_id
        else:
            # created by the second file; a later row in another chunk updates it (E0600), one in its own chunk
            # is folded into the created row (E0650)
            assert actions == (["create", "update"] if patient.external_id == "E0600" else ["create"])
    assert crm.audit.verify() is True


def _count_lookups(monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """The key sets the writer looks up, from now on."""
    calls: list[set[str]] = []
    original = import_writer.ChunkWriter._existing_ids

    def counting(self: import_writer.ChunkWriter, keys: set[str]) -> dict[str, int]:
        calls.append(set(keys))
        return original(self, keys)

    monkeypatch.setattr(import_writer.ChunkWriter, "_existing_ids", counting)
    return calls


def test_first_import_in_key_order_skips_the_look_up(
    crm: ClinicCRM, clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No external ids in the clinic yet and every chunk's keys after the previous chunks': nothing to look up."""
    assert clinic.id is not None
    crm.patients.register(clinic.id, family_name="無", given_name="編號")  # a patient without an external id
    calls = _count_lookups(monkeypatch)
    rows = [{"external_id": f"K{n:03d}", "family_name": "林", "given_name": f"{n}"} for n in range(10)]
    rows.insert(3, {"external_id": "K001", "given_name": "again"})  # repeated in its own chunk
    report = crm.patients.import_rows(clinic.id, rows, chunk_size=4)
    assert (report.created, report.updated, report.rejected) == (10, 1, [])
    assert calls == []
    assert by_external_id(crm, clinic.id)["K001"].given_name == "again"
    again = crm.patients.import_rows(clinic.id, [{"external_id": "K009", "given_name": "later"}])
    assert (again.created, again.updated) == (0, 1) and calls == [{"K009"}]  # the clinic has external ids now


@pytest.mark.parametrize(
    ("keys", "looked_up"),
    [
        (["B", "C", "D", "B"], [{"D", "B"}]),  # a key of an earlier chunk again: looked up, and updated
        (["B", "C", "A", "E"], [{"A", "E"}]),  # a key sorting before an earlier chunk's: looked up, created
        (["B", "C", "C", "E"], [{"C", "E"}]),  # equal to the greatest earlier key: looked up, updated
        (["B", "C", "Ca", "E"], []),  # after every earlier key: skipped
    ],
)
def test_keys_out_of_order_are_looked_up(
    crm: ClinicCRM, clinic: Clinic, monkeypatch: pytest.MonkeyPatch, keys: list[str], looked_up: list[set[str]]
) -> None:
    assert clinic.id is not None
    calls = _count_lookups(monkeypatch)
    rows = [{"external_id": key, "family_name": "林", "given_name": f"{n}"} for n, key in enumerate(keys)]
    report = crm.patients.import_rows(clinic.id, rows, chunk_size=2)
    assert calls == looked_up
    distinct = len(set(keys))
    assert (report.created, report.updated) == (distinct, len(keys) - distinct)
    patients = by_external_id(crm, clinic.id)
    assert sorted(key for key in patients if key is not None) == sorted(set(keys))
    last = {key: str(n) for n, key in enumerate(keys)}
    assert {key: patient.given_name for key, patient in patients.items()} == last
    assert crm.audit.verify() is True


def test_skipped_look_up_and_a_concurrent_writer_is_duplicate_patient(
    crm: ClinicCRM, clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An external id added by another writer after the import began (simulated: the clinic's start state is
    read as "no external ids") makes the insert fail: DuplicatePatient, and nothing of the import is kept."""
    assert clinic.id is not None
    crm.patients.register(clinic.id, family_name="A", given_name="B", external_id="R1")
    original = import_writer.ChunkWriter.__init__

    def started_before_the_other_writer(self: import_writer.ChunkWriter, *args: Any) -> None:
        original(self, *args)
        self.had_external_ids = False

    monkeypatch.setattr(import_writer.ChunkWriter, "__init__", started_before_the_other_writer)
    rows = [{"external_id": key, "family_name": "C", "given_name": "D"} for key in ("R0", "R1")]
    with pytest.raises(DuplicatePatient):
        crm.patients.import_rows(clinic.id, rows)
    assert count_rows(crm, "patient") == 1
    assert crm.audit.verify() is True
