"""Helpers for the import tests: writing CSV files and reading patients back."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from clinic_crm import ClinicCRM
from clinic_crm.models import Patient


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write ``rows`` under ``header`` to a CSV file (UTF-8, optionally with a BOM) and return its path."""

    def write(header: Sequence[str], rows: Sequence[Sequence[str]], *, bom: bool = False, name: str = "p.csv") -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(header)
            out.writerows(rows)
        return path

    return write


def by_external_id(crm: ClinicCRM, clinic_id: int) -> dict[str | None, Patient]:
    """The clinic's patients keyed by external id."""
    return {p.external_id: p for p in crm.patients.find(clinic_id)}
