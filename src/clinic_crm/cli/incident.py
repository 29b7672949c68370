"""``clinic-crm incident``: for the people on call — declare an incident, see the open ones and their clocks,
and check for overdue statements (cron or monitoring: exit code 1 when any is overdue).

Examples::

    clinic-crm incident declare --clinic 1 --title "Appointment list leaked" --type data_breach --by "Dr. Chen"
    clinic-crm incident declare --clinic 1 --title "Yearly drill" --type data_breach --drill --by "Dr. Chen"
    clinic-crm incident status --clinic 1
    clinic-crm incident overdue || page-the-lead

Exit codes: 0 fine; 1 ``overdue`` found an overdue incident; 2 bad input (the error is printed, no traceback).
``--at``/``--now`` take an ISO datetime with an offset (``2026-03-02T09:00+08:00``); the default is now.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from clinic_crm.cli import add_db_option, open_crm
from clinic_crm.cli.report import parse_instant
from clinic_crm.models import CRISIS_TYPES, INCIDENT_SEVERITIES, PURPOSES, Incident
from clinic_crm.values import utcnow

__all__ = ["register", "format_incident"]


def register(subparsers: Any) -> None:
    """Add the ``incident`` sub-command (``declare``, ``status``, ``overdue``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "incident", help="declare incidents and watch their statement clocks", description=__doc__
    )
    actions = parser.add_subparsers(dest="action", required=True)

    declare = actions.add_parser("declare", help="declare an incident (pauses marketing unless --drill)")
    add_db_option(declare)
    declare.add_argument("--clinic", type=int, required=True, metavar="ID")
    declare.add_argument("--title", required=True)
    declare.add_argument("--type", dest="crisis_type", required=True, choices=CRISIS_TYPES)
    declare.add_argument("--by", required=True, help="who declares it (member of staff)")
    declare.add_argument("--severity", default="major", choices=INCIDENT_SEVERITIES)
    declare.add_argument("--drill", action="store_true", help="a rehearsal: pauses and publishes nothing outside")
    declare.add_argument(
        "--pause",
        action="append",
        choices=PURPOSES,
        default=None,
        help="purpose to pause (repeatable; default marketing)",
    )
    declare.add_argument("--no-pause", action="store_true", help="pause nothing")
    declare.add_argument("--at", default=None, help="ISO datetime with offset (default: now)")
    declare.set_defaults(handler=run_declare)

    status = actions.add_parser("status", help="open incidents with their clocks")
    add_db_option(status)
    status.add_argument("--clinic", type=int, default=None, metavar="ID", help="only this clinic")
    status.add_argument("--now", default=None, help="ISO datetime with offset (default: now)")
    status.set_defaults(handler=run_status)

    overdue = actions.add_parser("overdue", help="list overdue incidents; exit 1 when any")
    add_db_option(overdue)
    overdue.add_argument("--clinic", type=int, default=None, metavar="ID", help="only this clinic")
    overdue.add_argument("--now", default=None, help="ISO datetime with offset (default: now)")
    overdue.set_defaults(handler=run_overdue)


def _instant(value: str | None, field: str) -> datetime:
    return parse_instant(value, field, "UTC") or utcnow()


def _clock(label: str, due: datetime | None, now: datetime) -> str:
    if due is None:
        return f"{label}: -"
    minutes = int((due - now).total_seconds() // 60)
    left = (
        f"in {minutes // 60}h{minutes % 60:02d}" if minutes >= 0 else f"OVERDUE by {-minutes // 60}h{-minutes % 60:02d}"
    )
    return f"{label}: {due.isoformat(timespec='minutes')} ({left})"


def format_incident(incident: Incident, now: datetime) -> str:
    """One line for an incident: id, clinic, type, severity, title and its running clocks."""
    head = f"#{incident.id} clinic {incident.clinic_id} {incident.crisis_type} {incident.severity}"
    if incident.drill:
        head += " DRILL"
    clocks = []
    if incident.first_statement_at is None:
        clocks.append(_clock("first statement due", incident.first_statement_due_at, now))
    else:
        clocks.append(f"first statement: {incident.first_statement_at.isoformat(timespec='minutes')}")
        clocks.append(_clock("next update due", incident.next_update_due_at, now))
    return f"{head} — {incident.title}\n    " + "; ".join(clocks)


def run_declare(args: argparse.Namespace) -> int:
    """Declare the incident and print it."""
    pause: tuple[str, ...] = () if args.no_pause else tuple(args.pause or ("marketing",))
    at = _instant(args.at, "at")
    with open_crm(args) as crm:
        incident = crm.incidents.declare(
            args.clinic,
            title=args.title,
            crisis_type=args.crisis_type,
            at=at,
            by=args.by,
            severity=args.severity,
            drill=args.drill,
            pause=pause,
        )
    paused = "nothing (drill)" if incident.drill else (", ".join(pause) or "nothing")
    print(f"declared incident #{incident.id}; paused: {paused}")
    print(format_incident(incident, at))
    print("next: tell staff — draft, approve and publish a staff statement (crm.incidents.draft/approve/publish)")
    return 0


def run_status(args: argparse.Namespace) -> int:
    """Print the open incidents (of one clinic, or of every clinic) with their clocks."""
    now = _instant(args.now, "now")
    with open_crm(args) as crm:
        clinics = [args.clinic] if args.clinic is not None else [c.id for c in crm.clinics.list()]
        found = [i for cid in clinics if cid is not None for i in crm.incidents.list(cid, status="open")]
    if not found:
        print("no open incident")
    for incident in sorted(found, key=lambda i: (i.declared_at, i.id or 0)):
        print(format_incident(incident, now))
    return 0


def run_overdue(args: argparse.Namespace) -> int:
    """Print the overdue incidents; exit code 1 when there is any."""
    now = _instant(args.now, "now")
    with open_crm(args) as crm:
        found = crm.incidents.overdue(clinic_id=args.clinic, now=now)
    if not found:
        print("no overdue incident")
        return 0
    for incident in found:
        print(format_incident(incident, now))
    return 1
