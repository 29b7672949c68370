"""``clinic-crm reputation``: import mentions, run the spike check from cron, print the summary.

Examples::

    clinic-crm reputation import reviews.json --clinic 1 --source google   # a reviews.list response
    clinic-crm reputation import mentions.csv --clinic 1 --source csv      # columns: source, external_id, text,
                                                                          # posted_at, rating, author, url
    clinic-crm reputation check --clinic 1                                 # cron: exit 1 while alerts are open
    clinic-crm reputation summary --clinic 1 --by month --png reputation.png

Exit codes: ``import`` 0 when every row landed, 1 when some rows were rejected (the others landed);
``check`` 0 when the clinic has no open alert, 1 when it has one (listed, without any mention's text);
2 for an error (unknown clinic, unreadable file, bad arguments: nothing written).
No output line contains a mention's text or its author.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from clinic_crm.cli import add_csv_option, add_db_option, open_crm
from clinic_crm.cli.report import parse_instant
from clinic_crm.errors import ValidationError
from clinic_crm.reporting import Cell, write_csv
from clinic_crm.services.reputation import CsvSource, IngestReport, ReputationSummary
from clinic_crm.services.reputation.summary import SUMMARY_BY
from clinic_crm.values import aware, utcnow

__all__ = ["register", "run_import", "run_check", "run_summary"]


def register(subparsers: Any) -> None:
    """Add the ``reputation`` sub-command and its ``import``, ``check`` and ``summary`` actions."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "reputation", help="reviews and mentions: import, spike check, summary", description=__doc__.split("\n")[0]
    )
    actions = parser.add_subparsers(dest="action", required=True)

    imp = actions.add_parser("import", help="import mentions from a Google reviews.list JSON file or a CSV file")
    imp.add_argument("path", type=Path, help="the file")
    imp.add_argument("--clinic", type=int, required=True, metavar="ID", help="the clinic mentioned")
    imp.add_argument("--source", choices=("google", "csv"), required=True, help="the file's format")
    add_db_option(imp)
    imp.set_defaults(handler=run_import)

    check = actions.add_parser("check", help="run the negative-spike check; list open alerts; exit 1 if any")
    check.add_argument("--clinic", type=int, required=True, metavar="ID")
    check.add_argument("--now", default=None, help="ISO datetime with offset (default: now)")
    add_db_option(check)
    check.set_defaults(handler=run_check)

    summary = actions.add_parser("summary", help="print the reputation summary; --png writes the monthly chart")
    summary.add_argument("--clinic", type=int, default=None, metavar="ID", help="only this clinic")
    summary.add_argument("--by", choices=SUMMARY_BY, default=None)
    summary.add_argument("--since", default=None, help="ISO date or datetime with offset; inclusive")
    summary.add_argument("--until", default=None, help="ISO date or datetime with offset; exclusive")
    summary.add_argument("--png", default=None, metavar="FILE", help="also write the by-month chart to FILE")
    add_csv_option(summary)
    add_db_option(summary)
    summary.set_defaults(handler=run_summary)


def _print_report(report: IngestReport) -> None:
    print(f"created {report.created}, updated {report.updated}, rejected {len(report.rejected)}")
    for error in report.rejected:
        print(f"  {error}")


def run_import(args: argparse.Namespace) -> int:
    """Ingest ``args.path`` (a ``reviews.list`` JSON file or a mentions CSV) and print the report."""
    path: Path = args.path
    if not path.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return 2
    with open_crm(args) as crm:
        if args.source == "google":
            try:
                payload = json.loads(path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ValidationError(f"the file is not UTF-8 JSON ({type(exc).__name__})", field="file") from None
            report = crm.reputation.ingest_google_reviews(args.clinic, payload)
        else:
            crm.clinics.get(args.clinic)  # an unknown clinic is reported before the file is read
            report = crm.reputation.ingest(args.clinic, CsvSource(path).fetch())
    _print_report(report)
    return 1 if report.rejected else 0


def _now(value: str | None) -> datetime:
    if value is None:
        return utcnow()
    try:
        return aware(datetime.fromisoformat(value.strip()), "now")
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError("--now must be an ISO datetime with an offset", field="now") from None


def run_check(args: argparse.Namespace) -> int:
    """Run ``check_spikes`` for the clinic and print its open alerts (kind, when, detail; never a text)."""
    now = _now(args.now)
    with open_crm(args) as crm:
        opened = crm.reputation.check_spikes(args.clinic, now=now)
        alerts = crm.reputation.alerts(args.clinic)
    print(f"clinic {args.clinic}: {len(opened)} alert(s) opened now, {len(alerts)} open")
    for alert in alerts:
        mention = f" mention {alert.mention_id}" if alert.mention_id is not None else ""
        print(f"  #{alert.id} {alert.kind}{mention} opened {alert.opened_at.isoformat()}: {alert.detail}")
    if alerts:
        print("dismiss with crm.reputation.dismiss(alert_id, ...) or declare an incident with alert_id=")
    return 1 if alerts else 0


HEADER = (
    f"{'group':<12} {'mentions':>8} {'rated':>6} {'avg':>7} {'negative':>8} {'neg %':>6} {'replied':>8} {'median h':>8}"
)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


#: The columns of ``summary --csv``.
CSV_HEADER = ["group", "mentions", "rated", "average rating", "negative", "negative %", "replied", "median hours"]


def _values(label: str, s: ReputationSummary) -> list[Cell]:
    share = None if s.negative_share is None else 100 * s.negative_share
    return [label, s.mentions, s.rated, s.average_rating, s.negative, share, s.replied, s.median_hours_to_reply]


def _line(label: str, s: ReputationSummary) -> str:
    share = None if s.negative_share is None else 100 * s.negative_share
    return (
        f"{label:<12} {s.mentions:>8} {s.rated:>6} {_fmt(s.average_rating, '.2f'):>7} {s.negative:>8} "
        f"{_fmt(share, '.1f'):>6} {s.replied:>8} {_fmt(s.median_hours_to_reply, '.1f'):>8}"
    )


def run_summary(args: argparse.Namespace) -> int:
    """Print the summary (a line per group and the total); write the chart with ``--png``."""
    with open_crm(args) as crm:
        timezone = crm.clinics.get(args.clinic).timezone if args.clinic is not None else "UTC"
        since = parse_instant(args.since, "since", timezone)
        until = parse_instant(args.until, "until", timezone)
        total = crm.reputation.summary(clinic_id=args.clinic, since=since, until=until)
        grouped = crm.reputation.summary(clinic_id=args.clinic, since=since, until=until, by=args.by) if args.by else {}
        print(HEADER)
        assert isinstance(grouped, dict) and isinstance(total, ReputationSummary)
        for key, item in grouped.items():
            print(_line(str(key), item))
        print(_line("total", total))
        if args.csv:
            rows = [_values(str(key), item) for key, item in grouped.items()]
            write_csv(args.csv, CSV_HEADER, [*rows, _values("total", total)])
            print(f"table written to {args.csv}")
        if args.png:
            crm.reputation.plot_summary(clinic_id=args.clinic, since=since, until=until).savefig(args.png)
            print(f"chart written to {args.png}")
    return 0
