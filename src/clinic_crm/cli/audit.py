"""``clinic-crm audit verify``: check the audit trail's hash chain.

Exit codes: 0 intact, 1 broken (an event was edited, deleted or reordered), 2 error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from clinic_crm.cli import add_db_option, open_crm

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``audit`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "audit", help="check the audit trail", description="Check the audit trail's hash chain."
    )
    actions = parser.add_subparsers(dest="action", required=True)
    verify = actions.add_parser("verify", help="exit 1 when an audit event was edited, deleted or reordered")
    add_db_option(verify)
    verify.set_defaults(handler=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    """Print ``audit trail intact`` (exit 0) or ``audit trail BROKEN`` (exit 1)."""
    with open_crm(args) as crm:
        intact = crm.audit.verify()
    if intact:
        print("audit trail intact")
        return 0
    print("audit trail BROKEN: an event was edited, deleted or reordered", file=sys.stderr)
    return 1
