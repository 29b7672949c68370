"""``clinic-crm import patients.csv --clinic ID``: bulk-import patients from a CSV file.

Prints the created/updated/rejected counts and one line per rejected row
(``row N: field: reason`` — never the row's data).  Exit code 0 when every row
was imported, 1 when some rows were rejected (the others were imported),
2 when the whole file was refused (nothing imported).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from clinic_crm.cli import add_db_option, open_crm
from clinic_crm.services.imports import ImportReport

__all__ = ["register", "count_data_lines", "run", "print_report"]


def register(subparsers: Any) -> None:
    """Add the ``import`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "import",
        help="import patients from a CSV file",
        description="Create or update patients from a UTF-8 CSV file whose header names register()'s keywords "
        "(family_name, given_name, phone, email, birth_date, locale, timezone, external_id).",
    )
    parser.add_argument("path", type=Path, help="the CSV file")
    parser.add_argument("--clinic", type=int, required=True, help="id of the clinic the patients belong to")
    parser.add_argument(
        "--encoding",
        default="utf-8",
        help="the file's text encoding: utf-8 (default, a BOM is fine) or cp950/big5 (Excel in Taiwan)",
    )
    add_db_option(parser)
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument(
        "--progress", dest="progress", action="store_true", default=None, help="show a progress bar (needs tqdm)"
    )
    progress.add_argument("--no-progress", dest="progress", action="store_false", help="never show a progress bar")
    parser.set_defaults(handler=run)


def count_data_lines(path: Path) -> int:
    """An estimate of the data rows of a CSV file: its lines minus the header (quoted newlines count extra)."""
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    if last != b"\n":
        lines += 1
    return max(lines - 1, 0)


def run(args: argparse.Namespace) -> int:
    """Import ``args.path`` into clinic ``args.clinic`` of ``args.db`` and print the report."""
    path: Path = args.path
    if not path.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return 2
    show = sys.stderr.isatty() if args.progress is None else bool(args.progress)
    bar = _progress_bar(path) if show else None
    if bar is None and args.progress:
        print("no progress bar: tqdm is not installed (pip install 'clinic-crm[cli]')", file=sys.stderr)
    try:
        with open_crm(args) as crm:
            report = crm.patients.import_csv(
                args.clinic, path, progress=None if bar is None else bar.update, encoding=args.encoding
            )
    finally:
        if bar is not None:
            bar.close()
    print_report(report)
    return 1 if report.rejected else 0


def _progress_bar(path: Path) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # the "cli" extra is not installed: no bar
        return None
    return tqdm(total=count_data_lines(path), unit="rows", desc="import", file=sys.stderr)


def print_report(report: ImportReport) -> None:
    """Print the counts, then ``row N: field: reason`` for each rejected row."""
    print(f"created: {report.created}")
    print(f"updated: {report.updated}")
    print(f"rejected: {len(report.rejected)}")
    for error in report.rejected:
        print(str(error))
