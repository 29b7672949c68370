"""``clinic-crm feedback``: the morning script's view of feedback cases, and the SLA report.

Examples::

    clinic-crm feedback list --clinic 1 --breached --db postgresql+psycopg://…   # exit 1 when any case is breached
    clinic-crm feedback list --clinic 1 --status open
    clinic-crm feedback sla --clinic 1 --by month --since 2026-01-01

``list`` prints one line per case — id, kind, channel, priority, status, when it was received, its due times (in
the clinic's time zone) and whether it is breached — and never the patient's text.  Exit codes: 0, or 1 with
``--breached`` when breached cases exist; 2 on an error (unknown clinic, bad option value).
``--since``/``--until``/``--now`` take an ISO date (midnight in the clinic's time zone with ``--clinic``, else UTC)
or an ISO datetime with an offset.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from clinic_crm.cli import add_csv_option, add_db_option, open_crm
from clinic_crm.cli.report import _table, parse_instant
from clinic_crm.reporting import Cell, write_csv
from clinic_crm.services.feedback.rules import KINDS, STATUSES, Clocks, is_breached
from clinic_crm.services.feedback.sla import SLA_BY, SlaResult
from clinic_crm.values import utcnow, zone

__all__ = ["register", "run_list", "run_sla"]

LIST_HEADER = ["id", "kind", "channel", "priority", "status", "received", "ack due", "resolve due", "breached"]
SLA_HEADER = ["group", "cases", "ack on time", "resolved on time", "breached"]


def register(subparsers: Any) -> None:
    """Add the ``feedback`` sub-command with its ``list`` and ``sla`` actions."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "feedback",
        help="list feedback cases (breached ones for the morning script) and the SLA report",
        description="Feedback cases: list them (no patient text is printed) or report deadlines kept.",
    )
    actions = parser.add_subparsers(dest="action", required=True)

    listing = actions.add_parser("list", help="one line per case, oldest first; exit 1 with --breached when any")
    add_db_option(listing)
    listing.add_argument("--clinic", type=int, required=True, metavar="ID", help="the clinic")
    listing.add_argument("--breached", action="store_true", help="only breached cases; exit 1 when there are any")
    listing.add_argument("--status", choices=STATUSES, default=None, help="only cases in this status")
    listing.add_argument("--kind", choices=KINDS, default=None, help="only cases of this kind")
    listing.add_argument("--now", default=None, help="judge breaches at this instant (default: now)")
    listing.set_defaults(handler=run_list)

    report = actions.add_parser("sla", help="cases, acknowledged and resolved on time, breached")
    add_db_option(report)
    report.add_argument("--clinic", type=int, default=None, metavar="ID", help="only this clinic")
    report.add_argument("--by", choices=SLA_BY, default=None, help="group by month (clinic's time zone), clinic, kind")
    report.add_argument("--since", default=None, help="received at or after (ISO date or datetime with offset)")
    report.add_argument("--until", default=None, help="received before (ISO date or datetime with offset)")
    report.add_argument("--now", default=None, help="judge breaches at this instant (default: now)")
    add_csv_option(report)
    report.set_defaults(handler=run_sla)


def _local(instant: datetime | None, timezone: str) -> str:
    return "-" if instant is None else instant.astimezone(zone(timezone)).strftime("%Y-%m-%d %H:%M")


def run_list(args: argparse.Namespace) -> int:
    """Print the clinic's cases (no patient text); return 1 with ``--breached`` when any is breached."""
    with open_crm(args) as crm:
        timezone = crm.clinics.get(args.clinic).timezone
        now = parse_instant(args.now, "now", timezone) or utcnow()
        cases = crm.feedback.list(
            args.clinic, status=args.status, kind=args.kind, breached=True if args.breached else None, now=now
        )
    rows = []
    for case in cases:
        clocks = Clocks(
            case.acknowledge_due_at, case.acknowledged_at, case.resolve_due_at, case.resolved_at, case.missed_before_at
        )
        rows.append(
            [
                str(case.id),
                case.kind,
                case.channel,
                case.priority,
                case.status,
                _local(case.received_at, timezone),
                _local(case.acknowledge_due_at, timezone),
                _local(case.resolve_due_at, timezone),
                "yes" if is_breached(clocks, now) else "no",
            ]
        )
    scope = "breached cases" if args.breached else "cases"
    print(f"{len(rows)} {scope} of clinic {args.clinic} at {_local(now, timezone)} ({timezone})")
    if rows:
        print(_table(LIST_HEADER, rows))
    return 1 if args.breached and rows else 0


def _sla_values(label: str, result: SlaResult) -> list[Cell]:
    return [label, result.cases, result.acknowledged_on_time, result.resolved_on_time, result.breached]


def run_sla(args: argparse.Namespace) -> int:
    """Print the SLA table: one line per group (with ``--by``) and a total line."""
    with open_crm(args) as crm:
        timezone = crm.clinics.get(args.clinic).timezone if args.clinic is not None else "UTC"
        now = parse_instant(args.now, "now", timezone) or utcnow()
        filters: dict[str, Any] = {
            "clinic_id": args.clinic,
            "since": parse_instant(args.since, "since", timezone),
            "until": parse_instant(args.until, "until", timezone),
            "now": now,
        }
        grouped = crm.feedback.sla(by=args.by, **filters) if args.by is not None else {}
        total = crm.feedback.sla(**filters)
    assert isinstance(grouped, dict) and isinstance(total, SlaResult)
    scope = f"clinic {args.clinic}" if args.clinic is not None else "all clinics"
    print(f"Feedback SLA{f' by {args.by}' if args.by else ''} — {scope}; breaches judged at {now.isoformat()}")
    values = [_sla_values(str(key), result) for key, result in grouped.items()]
    values.append(_sla_values("total", total))
    print(_table(SLA_HEADER, [[str(v) for v in row] for row in values]))
    if args.csv:
        write_csv(args.csv, SLA_HEADER, values)
        print(f"table written to {args.csv}")
    return 0
