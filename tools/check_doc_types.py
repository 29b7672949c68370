"""Type-check the Python examples of README.md and docs/*.md with ``mypy --strict`` (run by .ci/run).

Each page's ``python`` blocks (except those starting ``# not run``) become one module, as the docs tests run them.
Usage: python tools/check_doc_types.py
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def main() -> int:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for page in pages:
            blocks = [b for b in BLOCK.findall(page.read_text(encoding="utf-8")) if not b.startswith("# not run")]
            if blocks:
                module = Path(tmp) / (page.stem.replace("-", "_").lower() + "_md.py")
                module.write_text("\n".join(blocks), encoding="utf-8")
                files.append(str(module))
        out, err, status = api.run(["--strict", "--no-incremental", *files])
    print(out.replace(tmp + "/", "docs example "), end="")
    print(err, end="", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
