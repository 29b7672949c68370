"""docs/notebook.ipynb runs end to end (nbclient) on a SQLite database with survey data."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clinic_crm import ClinicCRM
from tests.surveys.stats_factory import Resp, seed

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebook.ipynb"
KERNEL = "clinic-crm-test"


def _survey_db(path: Path) -> str:
    """A SQLite database with two clinics and a year of answered (and unanswered) invitations."""
    url = f"sqlite:///{path}"
    with ClinicCRM(url) as crm:
        crm.migrate()
        a = crm.clinics.create("Sunrise", timezone="Asia/Taipei", locale="zh_TW", region="TW").id
        b = crm.clinics.create("Harbour", timezone="Europe/London", locale="en_GB", region="GB").id
        assert a is not None and b is not None
        start = datetime(2025, 4, 1, tzinfo=UTC)
        items = []
        for i in range(240):
            items.append(
                Resp(
                    a if i % 3 else b,
                    start + timedelta(hours=37 * i),
                    nps=(i * 7) % 11,
                    rating=1 + (i * 3) % 5,
                    comment="謝謝" if i % 10 == 0 else None,
                    kind=["checkup", "cleaning", "vaccination"][i % 3],
                    practitioner=["Dr Lin", "Dr Wu", None][i % 4 % 3],
                    channel=["sms", "email"][i % 2],
                    answered=i % 5 != 0,
                )
            )
        seed(crm.engine, items)
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
    monkeypatch.setenv("CLINIC_CRM_DB", _survey_db(tmp_path / "demo.db"))

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name=KERNEL, timeout=120, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()

    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "NpsResult(score=" in text  # the overall result
    assert "2025-04" in text  # a month row of the table
    assert "nps_sql" in text  # pandas and SQL agreed (the cell asserts it)
    assert "Figure" in text or any("image/png" in o.get("data", {}) for o in outputs)
