"""docs/notebook.ipynb runs end to end (nbclient) on the demo database."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clinic_crm import ClinicCRM
from clinic_crm.demo import build_demo

NOTEBOOK = Path(__file__).resolve().parents[3] / "docs" / "notebook.ipynb"
KERNEL = "clinic-crm-test"
NOW = datetime(2026, 11, 25, 2, 30, tzinfo=UTC)


def _demo_db(path: Path) -> str:
    """The demo database (``clinic-crm demo``): two clinics, a year of visits and survey responses."""
    url = f"sqlite:///{path}"
    with ClinicCRM(url) as crm:
        crm.migrate()
        build_demo(crm, patients=200, now=NOW, outbox=path.parent / "outbox.jsonl")
    return url


@pytest.mark.slow
def test_notebook_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    # a kernel running this very interpreter (the venv CI installed into), found first on JUPYTER_PATH
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "clinic_crm test",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("CLINIC_CRM_DB", _demo_db(tmp_path / "demo.db"))

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name=KERNEL, timeout=120, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()

    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "NpsResult(score=" in text  # the overall result
    assert "2026-10" in text  # a month row of the table (the demo answers over the past year)
    assert "nps_sql" in text  # pandas and SQL agreed (the cell asserts it)
    assert "<Figure" not in text  # charts render as pictures, not as a repr
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2  # one NPS chart per demo clinic
