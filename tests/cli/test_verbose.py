"""``-v``/``-vv`` on every command: INFO/DEBUG to stderr, never patient data (both databases)."""

from __future__ import annotations

import logging

import pytest

from clinic_crm import ClinicCRM
from clinic_crm.cli import EXIT_OK, main
from clinic_crm.models import Clinic

SECRETS = ("Wanderlyn", "Isolde", "+886912345688", "isolde.w@example.org")


@pytest.fixture
def patients(crm: ClinicCRM, clinic: Clinic) -> int:
    assert clinic.id is not None
    for _ in range(2):  # a likely duplicate pair: duplicates reads names, phones and e-mails
        crm.patients.register(
            clinic.id, family_name="Wanderlyn", given_name="Isolde", phone="0912-345-688", email="isolde.w@example.org"
        )
    return clinic.id


@pytest.mark.parametrize("flag", ["-v", "-vv"])
def test_verbose_logs_without_patient_data(
    db_url: str, patients: int, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([flag, "patients", "duplicates", "--clinic", str(patients), "--db", db_url]) in (EXIT_OK, 1)
    err = capsys.readouterr().err
    assert "clinic_crm.cli: clinic-crm patients duplicates: started" in err
    assert "exit" in err
    if flag == "-vv":
        assert "SELECT" in err and "hide_parameters" in err  # statements, never their parameters
    else:
        assert "SELECT" not in err
    leaked = [s for s in SECRETS if s in err]
    assert not leaked
    assert logging.getLogger("clinic_crm").level == logging.NOTSET  # restored after the command


def test_v_after_the_action_and_no_v_logs_nothing(
    db_url: str, patients: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["clinics", "list", "--db", db_url, "-vv"]) == EXIT_OK
    assert "SELECT" in capsys.readouterr().err
    assert main(["clinics", "list", "--db", db_url]) == EXIT_OK
    assert capsys.readouterr().err == ""
