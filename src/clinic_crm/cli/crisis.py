"""``clinic-crm crisis readiness``: the six readiness checks of a clinic and its score (0–100).

Example::

    clinic-crm crisis readiness --clinic 1

Exit codes: 0 printed (whatever the score); 2 bad input.  ``--now`` takes an ISO datetime with an offset.
"""

from __future__ import annotations

import argparse
from typing import Any

from clinic_crm.cli import add_db_option, open_crm
from clinic_crm.cli.report import parse_instant
from clinic_crm.values import utcnow

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``crisis`` sub-command (``readiness``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "crisis", help="crisis readiness of a clinic", description=__doc__
    )
    actions = parser.add_subparsers(dest="action", required=True)
    readiness = actions.add_parser("readiness", help="the six readiness checks and the score")
    add_db_option(readiness)
    readiness.add_argument("--clinic", type=int, required=True, metavar="ID")
    readiness.add_argument("--now", default=None, help="ISO datetime with offset (default: now)")
    readiness.set_defaults(handler=run_readiness)


def run_readiness(args: argparse.Namespace) -> int:
    """Print each check (ok or missing, with its detail) and the score."""
    now = parse_instant(args.now, "now", "UTC") or utcnow()
    with open_crm(args) as crm:
        result = crm.crisis.readiness(args.clinic, now=now)
    for check in result.checks:
        print(f"[{'x' if check.ok else ' '}] {check.name:<15} {check.detail}")
    print(f"readiness: {result.score}/100")
    return 0
