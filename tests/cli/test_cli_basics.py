"""The command line's first steps and exit codes, run in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinic_crm.cli import EXIT_ENVIRONMENT, EXIT_OK, EXIT_USAGE, main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert "clinic-crm" in capsys.readouterr().out


def test_first_clinic_without_python(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'clinic.db'}"
    assert main(["clinics", "list", "--db", db]) == EXIT_ENVIRONMENT  # not there yet: no file is created
    assert not (tmp_path / "clinic.db").exists()
    assert "clinic-crm migrate" in capsys.readouterr().err
    assert main(["migrate", "--db", db]) == EXIT_OK
    args = ["clinics", "create", "Sunrise Dental", "--timezone", "Asia/Taipei", "--locale", "zh_TW", "--region", "TW"]
    assert main([*args, "--db", db]) == EXIT_OK
    assert "created clinic 1" in capsys.readouterr().out
    assert main(["clinics", "list", "--db", db]) == EXIT_OK
    assert "Sunrise Dental" in capsys.readouterr().out
    bad = ["clinics", "create", "X", "--timezone", "Mars/Base", "--locale", "zh_TW", "--region", "TW", "--db", db]
    assert main(bad) == EXIT_USAGE
    assert "timezone" in capsys.readouterr().err


def test_unmigrated_and_unreachable_databases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.db").touch()
    assert main(["clinics", "list", "--db", f"sqlite:///{tmp_path / 'empty.db'}"]) == EXIT_ENVIRONMENT
    assert "migrate" in capsys.readouterr().err
    assert main(["clinics", "list", "--db", "postgresql+psycopg://postgres@127.0.0.1:1/x"]) == EXIT_ENVIRONMENT
    err = capsys.readouterr().err
    assert "unreachable" in err and "Traceback" not in err
