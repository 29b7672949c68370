"""Every ```python block in docs/*.md runs (blocks of one page share a namespace, in order).

A block whose first line is ``# not run`` is skipped (e.g. one that needs a real SMTP server).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
PAGES = sorted(p for p in DOCS.glob("*.md") if BLOCK.search(p.read_text(encoding="utf-8")))


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLINIC_CRM_DOCS_TMP", os.fspath(tmp_path))
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    blocks = [b for b in BLOCK.findall(page.read_text(encoding="utf-8")) if not b.startswith("# not run")]
    assert blocks
    for number, block in enumerate(blocks, 1):
        code = compile(block, f"{page.name}[block {number}]", "exec")
        exec(code, namespace)  # noqa: S102 - the docs are ours
