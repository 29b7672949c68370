"""The Python examples of docs/metrics.md run, in order, and their assertions hold."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"


def test_metrics_page_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 8
    monkeypatch.chdir(tmp_path)  # plot_nps example writes nps.png here
    namespace: dict[str, object] = {"__name__": "metrics_doc"}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - the documentation's own code
    assert (tmp_path / "nps.png").stat().st_size > 0
    crm = namespace["crm"]
    crm.close()  # type: ignore[attr-defined]
    assert os.path.exists(tmp_path / "nps.png")
