"""``clinic-crm patients …`` and ``clinic-crm audit verify``, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from clinic_crm import ClinicCRM
from clinic_crm.cli import main
from clinic_crm.models import Clinic
from tests.services.patient_rights.conftest import PatientFactory


def test_duplicates_merge_export_erase_verify(
    crm: ClinicCRM,
    rclinic: Clinic,
    make_patient: PatientFactory,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a = make_patient(birth_date="1980-01-01", email="ming@example.com")
    b = make_patient(birth_date="1980-01-01")
    db = ["--db", db_url, "--actor", "dr.lin"]
    assert main(["patients", "duplicates", "--clinic", str(rclinic.id), *db]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == ["patient_id\tother_id\tscore\treasons", f"{a.id}\t{b.id}\t0.90\tname,birth_date"]
    assert main(["patients", "merge", str(a.id), str(b.id), "--by", "Dr. Lin", *db]) == 0
    assert capsys.readouterr().out.strip() == f"merged patient {b.id} into patient {a.id}"
    out_file = tmp_path / "export.json"
    assert main(["patients", "export", str(a.id), "--out", str(out_file), *db]) == 0
    assert json.loads(out_file.read_text(encoding="utf-8"))["patient"]["email"] == "ming@example.com"
    assert capsys.readouterr().out.strip() == f"wrote {out_file}"
    assert main(["patients", "export", str(a.id), "--fhir", "R4B", *db]) == 0
    assert json.loads(capsys.readouterr().out)["type"] == "collection"
    assert main(["patients", "erase", str(a.id), "--by", "Dr. Lin", "--reason", "patient request", *db]) == 0
    out, err = capsys.readouterr()
    assert out.strip().endswith(f"erased patient {a.id}")
    assert "王" not in out and "ming@" not in out
    assert crm.audit.for_patient(a.id)[-1].actor == "dr.lin"  # type: ignore[arg-type]
    assert main(["audit", "verify", "--db", db_url]) == 0
    assert capsys.readouterr().out.strip() == "audit trail intact"
    with crm.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE id = 2"))
    assert main(["audit", "verify", "--db", db_url]) == 1


def test_refusal_exit_code_and_no_data(
    crm: ClinicCRM, make_patient: PatientFactory, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    a = make_patient(family_name="Wang", given_name="Ming")
    assert main(["patients", "merge", str(a.id), str(a.id), "--by", "Dr. Lin", "--db", db_url]) == 2
    assert main(["patients", "erase", "999", "--by", "Dr. Lin", "--reason", "x", "--db", db_url]) == 2
    out, err = capsys.readouterr()
    assert "ValidationError" in err and "NotFound" in err
    assert "Wang" not in out + err and "Ming" not in out + err
