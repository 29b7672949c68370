"""``clinic-crm events list|create|registrations|report``: community events from the command line.

Examples::

    clinic-crm events create --clinic 1 --title "Living well with diabetes" --title-in zh_TW 糖尿病衛教講座 \\
        --kind health_talk --starts 2026-03-09T17:00 --ends 2026-03-09T19:00 --location "3F classroom" --capacity 30
    clinic-crm events list --clinic 1
    clinic-crm events registrations 4            # ids, statuses and seats: no patient data
    clinic-crm events registrations 4 --names    # the list at the door, with names (printed, never logged)
    clinic-crm events report --clinic 1 --by month

Times without an offset are the clinic's local wall time; ``--since``/``--until`` take an ISO date (local
midnight with ``--clinic``, else UTC) or an ISO datetime with an offset.  Exit codes: 0 done, 2 bad
arguments or a refused change (the error is printed, without patient data).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from clinic_crm.cli import add_db_option, open_crm
from clinic_crm.cli.report import parse_instant
from clinic_crm.errors import ValidationError
from clinic_crm.localtime import at_local_time
from clinic_crm.messaging.render import localized
from clinic_crm.models.events import EVENT_KINDS, REGISTRATION_STATUSES
from clinic_crm.services.events.stats import EVENT_STATS_BY, EventStats
from clinic_crm.values import aware, zone

__all__ = ["register", "local_instant"]


def register(subparsers: Any) -> None:
    """Add the ``events`` sub-command and its actions."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "events",
        help="community events: list, create, registrations, attendance report",
        description="Community events: health talks, patient groups, free clinics and screenings.",
    )
    actions = parser.add_subparsers(dest="action", required=True)

    listing = actions.add_parser("list", help="a clinic's events by start time")
    add_db_option(listing)
    listing.add_argument("--clinic", type=int, required=True, metavar="ID")
    listing.add_argument("--status", choices=("scheduled", "cancelled", "closed"), default=None)
    listing.set_defaults(handler=run_list)

    create = actions.add_parser("create", help="create an event")
    add_db_option(create)
    create.add_argument("--clinic", type=int, required=True, metavar="ID")
    create.add_argument("--title", required=True, help="the title (in the clinic's locale)")
    create.add_argument(
        "--title-in", nargs=2, action="append", default=[], metavar=("LOCALE", "TITLE"), help="the title in a locale"
    )
    create.add_argument("--kind", required=True, choices=EVENT_KINDS)
    create.add_argument("--starts", required=True, help="ISO datetime; without offset: the clinic's local time")
    create.add_argument("--ends", required=True, help="ISO datetime; without offset: the clinic's local time")
    create.add_argument("--location", required=True)
    create.add_argument("--capacity", type=int, default=None, help="seats (default: unlimited)")
    create.set_defaults(handler=run_create)

    registrations = actions.add_parser("registrations", help="an event's registrations in the order they came")
    add_db_option(registrations)
    registrations.add_argument("event", type=int, metavar="EVENT_ID")
    registrations.add_argument("--status", choices=REGISTRATION_STATUSES, default=None)
    registrations.add_argument(
        "--names", action="store_true", help="also print each patient's name (the list at the door)"
    )
    registrations.set_defaults(handler=run_registrations)

    report = actions.add_parser("report", help="attendance: events, seats held, attended, no-shows, rate")
    add_db_option(report)
    report.add_argument("--clinic", type=int, default=None, metavar="ID")
    report.add_argument("--by", choices=EVENT_STATS_BY, default=None)
    report.add_argument("--since", default=None, help="ISO date or datetime with offset; inclusive")
    report.add_argument("--until", default=None, help="ISO date or datetime with offset; exclusive")
    report.set_defaults(handler=run_report)


def local_instant(value: str, field: str, timezone: str) -> datetime:
    """An ISO datetime: with an offset as given, without one as the wall time in ``timezone``; aware UTC.

    Raises:
        ValidationError: not an ISO datetime (``field`` names the option).
    """
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValidationError(f"--{field} must be an ISO datetime such as 2026-03-09T17:00", field=field) from exc
    if parsed.tzinfo is None:
        return at_local_time(parsed.date(), parsed.time(), timezone)
    return aware(parsed, field)


def _local(instant: datetime, timezone: str) -> str:
    return instant.astimezone(zone(timezone)).strftime("%Y-%m-%d %H:%M")


def run_list(args: argparse.Namespace) -> int:
    """Print a clinic's events: id, local start, kind, status, seats held / capacity, title."""
    with open_crm(args) as crm:
        clinic = crm.clinics.get(args.clinic)
        events = crm.events.list(args.clinic, status=args.status)
        print(f"{len(events)} event(s) of clinic {args.clinic} (times in {clinic.timezone})")
        for event in events:
            seats = f"{event.seats_taken}/{'-' if event.capacity is None else event.capacity}"
            print(
                f"{event.id:>5}  {_local(event.starts_at, clinic.timezone)}  {event.kind:<13}  {event.status:<9}  "
                f"{seats:>9}  {localized(event.title, clinic.locale)}"
            )
    return 0


def run_create(args: argparse.Namespace) -> int:
    """Create an event and print its id."""
    with open_crm(args) as crm:
        clinic = crm.clinics.get(args.clinic)
        title: str | dict[str, str] = args.title
        if args.title_in:
            title = {clinic.locale: args.title, **dict(args.title_in)}
        event = crm.events.create(
            args.clinic,
            title=title,
            kind=args.kind,
            starts_at=local_instant(args.starts, "starts", clinic.timezone),
            ends_at=local_instant(args.ends, "ends", clinic.timezone),
            location=args.location,
            capacity=args.capacity,
        )
        print(f"created event {event.id} ({event.kind}, {_local(event.starts_at, clinic.timezone)} local)")
    return 0


def run_registrations(args: argparse.Namespace) -> int:
    """Print an event's registrations in the order they came; names only with ``--names``."""
    with open_crm(args) as crm:
        event = crm.events.get(args.event)
        timezone = crm.clinics.get(event.clinic_id).timezone
        registrations = crm.events.registrations(args.event, status=args.status)
        print(f"event {event.id}: {event.seats_taken} seat(s) held of {event.capacity or 'unlimited'}")
        for registration in registrations:
            line = (
                f"{registration.id:>6}  patient {registration.patient_id:>6}  {registration.status:<10}  "
                f"{registration.seats} seat(s)  {_local(registration.registered_at, timezone)}"
            )
            if args.names:
                line += f"  {crm.patients.get(registration.patient_id).display_name}"
            print(line)
    return 0


def _stats_line(label: str, stats: EventStats) -> str:
    rate = "-" if stats.attendance_rate is None else f"{100 * stats.attendance_rate:.1f}"
    return f"{label:<14}{stats.events:>7}{stats.registered:>12}{stats.attended:>10}{stats.no_show:>9}{rate:>10}"


def run_report(args: argparse.Namespace) -> int:
    """Print attendance, grouped when ``--by`` is given, with a total line."""
    with open_crm(args) as crm:
        timezone = crm.clinics.get(args.clinic).timezone if args.clinic is not None else "UTC"
        filters: dict[str, Any] = {
            "clinic_id": args.clinic,
            "since": parse_instant(args.since, "since", timezone),
            "until": parse_instant(args.until, "until", timezone),
        }
        scope = f"clinic {args.clinic}" if args.clinic is not None else "all clinics"
        print(f"Event attendance{f' by {args.by}' if args.by else ''} — {scope}")
        print(f"{'group':<14}{'events':>7}{'registered':>12}{'attended':>10}{'no-show':>9}{'rate %':>10}")
        if args.by is not None:
            grouped = crm.events.stats(by=args.by, **filters)
            assert isinstance(grouped, dict)
            for key, stats in grouped.items():
                print(_stats_line(str(key), stats))
        total = crm.events.stats(**filters)
        assert isinstance(total, EventStats)
        print(_stats_line("total", total))
    return 0
