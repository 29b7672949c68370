"""``clinic-crm reminders plan|dispatch``: the commands a cron job or systemd timer runs.

* ``plan`` creates the reminders due within ``--horizon`` (default ``7d``) from care plans,
  booked visits and greetings; running it twice creates nothing new.
* ``dispatch`` sends what is due through the sender chosen by ``--sender`` (default
  ``$CLINIC_CRM_SENDER`` or ``outbox``), configured from environment variables (see
  :mod:`clinic_crm.messaging.senders`), and prints the counts: sent / suppressed by reason /
  deferred / held / failed.

``--dry-run`` does the work inside one outer transaction that is rolled back: ``plan`` shows how many
reminders it would create; ``dispatch`` hands every message to a null sender (nothing leaves
the machine) and shows what a real run would do.  Exit codes: 0 all well, 1 some delivery attempt
failed (it is retried later unless it failed permanently), 2 bad arguments or configuration.
Output holds counts and reasons only, never patient data.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from clinic_crm.cli import add_db_option, open_crm
from clinic_crm.crm import ClinicCRM, Scope
from clinic_crm.errors import ValidationError
from clinic_crm.messaging.outbox import NullSender
from clinic_crm.messaging.senders import SENDER_NAMES, close_sender, sender_channels, sender_from_env
from clinic_crm.values import aware, utcnow

__all__ = ["register", "parse_duration", "parse_instant", "format_report"]

T = TypeVar("T")

_UNITS = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
}
_DURATION = re.compile(r"(\d+)\s*([wdhms])")


def parse_duration(text: str, field: str = "horizon") -> timedelta:
    """Parse ``"7d"``, ``"24h"``, ``"90m"``, ``"2w"``, ``"1d12h"`` into a positive ``timedelta``.

    Raises:
        ValidationError: the text is not a sequence of ``<number><w|d|h|m|s>`` or adds up to zero.
    """
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValidationError(f"{field} must look like 7d, 24h, 90m or 1d12h", field=field)
    total = sum((int(n) * _UNITS[u] for n, u in parts), timedelta(0))
    if total <= timedelta(0):
        raise ValidationError(f"{field} must be longer than zero", field=field)
    return total


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant with its offset (``2026-03-02T09:00:00+08:00``, ``…Z``); return it in UTC.

    Raises:
        ValidationError: not ISO 8601; ``NaiveDatetimeError`` when it has no offset.
    """
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValidationError("--now must be an ISO 8601 date and time with an offset", field="now") from None
    return aware(value, "now")


def _add_common(parser: argparse.ArgumentParser) -> None:
    add_db_option(parser)
    parser.add_argument("--now", type=str, default=None, help="act as if it were this instant (ISO 8601 with offset)")
    parser.add_argument("--dry-run", action="store_true", help="do the work in a transaction that is rolled back")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def register(subparsers: Any) -> None:
    """Add the ``reminders`` sub-command with ``plan`` and ``dispatch``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "reminders",
        help="plan and dispatch reminders",
        description="The commands a cron job or systemd timer runs: plan creates the reminders due within the "
        "horizon; dispatch sends what is due.",
    )
    actions = parser.add_subparsers(dest="action", required=True)

    plan = actions.add_parser(
        "plan",
        help="create the reminders due within the horizon (idempotent)",
        description="Create the reminders due within --horizon from care plans, booked visits, events and "
        "greetings. Running it twice creates nothing new. Exit 0.",
    )
    _add_common(plan)
    plan.add_argument("--horizon", default="7d", help="how far ahead to plan: 7d, 24h, 2w … (default %(default)s)")
    plan.set_defaults(handler=run_plan)

    dispatch = actions.add_parser(
        "dispatch",
        help="send the reminders that are due",
        description="Send the due reminders through --sender (one for each channel, e.g. http-sms,smtp), "
        "re-checking consent, quiet hours and pauses per message; print sent / suppressed / deferred / held / "
        "failed. Exit 1 when a delivery attempt failed.",
    )
    _add_common(dispatch)
    dispatch.add_argument(
        "--sender",
        default=None,
        help=f"{' | '.join(SENDER_NAMES)}, or several joined by ',' (default: $CLINIC_CRM_SENDER or outbox)",
    )
    dispatch.add_argument("--limit", type=int, default=None, help="claim at most N reminders in this run")
    dispatch.add_argument("--lease", default="10m", help="how long a claim holds (default %(default)s)")
    dispatch.set_defaults(handler=run_dispatch)


def _in_scope(crm: ClinicCRM, dry_run: bool, work: Callable[[Scope], T]) -> T:
    """``work(crm)``; for a dry run, ``work`` inside ``crm.dry_run()`` (real checks and counts, nothing kept)."""
    if not dry_run:
        return work(crm)
    with crm.dry_run() as trial:
        return work(trial)


def run_plan(args: argparse.Namespace) -> int:
    """Plan reminders within ``--horizon``; print how many were created."""
    horizon = parse_duration(args.horizon, "horizon")
    now = parse_instant(args.now) if args.now else utcnow()
    with open_crm(args) as crm:
        created = _in_scope(crm, args.dry_run, lambda scope: scope.reminders.plan(now=now, horizon=horizon))
    if args.json:
        print(json.dumps({"planned": created, "horizon": args.horizon, "dry_run": bool(args.dry_run)}))
    else:
        verb = "would create" if args.dry_run else "created"
        print(f"plan: {verb} {created} reminder{'s' if created != 1 else ''} due within {args.horizon}")
    return 0


def run_dispatch(args: argparse.Namespace) -> int:
    """Dispatch due reminders; print the summary; exit 1 when any delivery attempt failed."""
    if args.limit is not None and args.limit < 0:
        raise ValidationError("--limit must be zero or more", field="limit")
    lease = parse_duration(args.lease, "lease")
    now = parse_instant(args.now) if args.now else None
    chosen = args.sender if args.sender is not None else os.environ.get("CLINIC_CRM_SENDER", "") or "outbox"
    missing = sorted({"sms", "email"} - sender_channels(chosen))
    if missing:
        raise ValidationError(
            f"--sender {chosen} cannot deliver {' or '.join(missing)} messages; name a sender for every channel, "
            "e.g. --sender http-sms,smtp",
            field="sender",
        )
    sender = sender_from_env(chosen)  # configured and checked even for a dry run
    if args.dry_run:
        close_sender(sender)
        sender = NullSender()
    try:
        with open_crm(args) as crm:
            report = _in_scope(
                crm,
                args.dry_run,
                lambda scope: scope.reminders.dispatch(sender, now=now, limit=args.limit, lease=lease),
            )
    finally:
        close_sender(sender)
    summary = report_dict(report)
    if args.json:
        print(json.dumps(summary | {"dry_run": bool(args.dry_run)}, sort_keys=True))
    else:
        print(format_report(summary, dry_run=bool(args.dry_run)))
    return 1 if summary["failed"] else 0


def report_dict(report: Any) -> dict[str, Any]:
    """The counts of a ``DispatchReport`` as plain data (``suppressed_by_reason`` when the report has it)."""
    data: dict[str, Any] = {
        name: int(getattr(report, name)) for name in ("sent", "suppressed", "deferred", "held", "failed")
    }
    for extra in ("gave_up", "claimed", "fenced"):
        if hasattr(report, extra):
            data[extra] = int(getattr(report, extra))
    by_reason = getattr(report, "suppressed_by_reason", None)
    data["suppressed_by_reason"] = dict(sorted((by_reason or {}).items()))
    return data


def format_report(summary: dict[str, Any], *, dry_run: bool = False) -> str:
    """The human-readable summary of :func:`report_dict`'s result, one count per line."""
    reasons = summary.get("suppressed_by_reason") or {}
    detail = f"  ({', '.join(f'{reason}: {count}' for reason, count in reasons.items())})" if reasons else ""
    failed_note = ""
    if summary["failed"] and "gave_up" in summary:
        failed_note = f"  ({summary['gave_up']} permanently, the rest retried later)"
    lines = [
        "dispatch (dry run: nothing was sent or saved):" if dry_run else "dispatch:",
        f"  sent        {summary['sent']}",
        f"  suppressed  {summary['suppressed']}{detail}",
        f"  deferred    {summary['deferred']}",
        f"  held        {summary['held']}",
        f"  failed      {summary['failed']}{failed_note}",
    ]
    if summary.get("fenced"):
        lines.append(f"  taken over  {summary['fenced']}  (another dispatcher's lease won; nothing overwritten)")
    return "\n".join(lines)
