"""``clinic-crm patients duplicates|merge|export|erase``: record quality and patients' rights from the shell.

Examples::

    clinic-crm patients duplicates --clinic 1
    clinic-crm patients merge 12 47 --by "Dr. Lin"
    clinic-crm patients export 12 --out patient-12.json
    clinic-crm patients export 12 --fhir R4B --out patient-12.fhir.json
    clinic-crm patients erase 12 --by "Dr. Lin" --reason "patient request 2026-03-02"

Only ``export`` prints patient data (that is its purpose: write it to a file with ``--out`` and hand it over
securely); the others print ids, scores and counts.  Exit codes: 0 done, 2 refused (the error names why,
without patient data).  Every command is recorded in the audit trail under ``--actor`` (default: ``$USER``).
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clinic_crm.cli import add_db_option, open_crm

__all__ = ["register"]


def _add_common(parser: argparse.ArgumentParser) -> None:
    add_db_option(parser)
    parser.add_argument(
        "--actor",
        default=os.environ.get("USER") or "clinic-crm cli",
        help="who acts, for the audit trail (default: $USER)",
    )


def register(subparsers: Any) -> None:
    """Add the ``patients`` sub-command and its actions."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "patients",
        help="duplicates, merge, export (JSON or FHIR) and erasure of patient records",
        description="Find duplicate records, merge them, export a patient's data, erase a patient.",
    )
    actions = parser.add_subparsers(dest="action", required=True)

    duplicates = actions.add_parser("duplicates", help="list candidate duplicate records of a clinic")
    duplicates.add_argument("--clinic", type=int, required=True, metavar="ID", help="the clinic")
    _add_common(duplicates)
    duplicates.set_defaults(handler=run_duplicates)

    merge = actions.add_parser("merge", help="merge record MERGE into record KEEP")
    merge.add_argument("keep", type=int, metavar="KEEP", help="id of the record that stays")
    merge.add_argument("merge", type=int, metavar="MERGE", help="id of the record merged into it")
    merge.add_argument("--by", required=True, metavar="NAME", help="the member of staff merging")
    _add_common(merge)
    merge.set_defaults(handler=run_merge)

    export = actions.add_parser("export", help="everything about one patient, as JSON or a FHIR bundle")
    export.add_argument("patient", type=int, metavar="ID", help="the patient")
    export.add_argument("--fhir", choices=("R5", "R4B"), default=None, help="a FHIR Bundle of this version")
    export.add_argument("--out", type=Path, default=None, metavar="FILE", help="write to FILE instead of stdout")
    _add_common(export)
    export.set_defaults(handler=run_export)

    erase = actions.add_parser("erase", help="erase a patient's identity and contact data")
    erase.add_argument("patient", type=int, metavar="ID", help="the patient")
    erase.add_argument("--by", required=True, metavar="NAME", help="the member of staff erasing")
    erase.add_argument("--reason", required=True, metavar="TEXT", help="why (kept on the record)")
    _add_common(erase)
    erase.set_defaults(handler=run_erase)


def run_duplicates(args: argparse.Namespace) -> int:
    """Print ``patient_id other_id score reasons``, one pair a line, highest score first."""
    with open_crm(args) as crm:
        pairs = crm.patients.duplicates(args.clinic)
    print("patient_id\tother_id\tscore\treasons")
    for pair in pairs:
        print(f"{pair.patient_id}\t{pair.other_id}\t{pair.score:.2f}\t{','.join(pair.reasons)}")
    return 0


def run_merge(args: argparse.Namespace) -> int:
    """Merge ``args.merge`` into ``args.keep`` now."""
    with open_crm(args) as crm:
        kept = crm.patients.merge(args.keep, args.merge, at=datetime.now(UTC), by=args.by)
    print(f"merged patient {args.merge} into patient {kept.id}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Write the patient's export (JSON, or a FHIR bundle with ``--fhir``) to ``--out`` or stdout."""
    with open_crm(args) as crm:
        if args.fhir:
            data = crm.patients.fhir(args.patient, version=args.fhir)
        else:
            data = crm.patients.export(args.patient)
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


def run_erase(args: argparse.Namespace) -> int:
    """Erase the patient now."""
    with open_crm(args) as crm:
        erased = crm.patients.erase(args.patient, at=datetime.now(UTC), by=args.by, reason=args.reason)
    print(f"erased patient {erased.id}")
    return 0
