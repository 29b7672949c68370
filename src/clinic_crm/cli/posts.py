"""``clinic-crm posts publish|list``: the content calendar on the command line.

* ``publish`` (run it from cron every few minutes) publishes the due posts through ``--publisher``: ``outbox``
  (a JSON-lines file, ``--outbox`` or ``$CLINIC_CRM_POSTS_OUTBOX``, default ``posts.jsonl``) or ``webhook``
  (``--url`` or ``$CLINIC_CRM_WEBHOOK_URL``; the bearer token from ``$CLINIC_CRM_WEBHOOK_TOKEN``), and prints
  the counts: published / held / failed.  Several runs at once publish each post once.
* ``list --clinic ID [--status S]`` prints the clinic's posts, one line each (id, status, publish time, kind,
  channel) — never their text.

Exit codes: 0 all well, 1 some publishing attempt failed (a retryable one is tried again by a later run),
2 bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from clinic_crm.cli import add_db_option, open_crm
from clinic_crm.cli.reminders import parse_duration, parse_instant
from clinic_crm.errors import ValidationError
from clinic_crm.messaging.publishers import PUBLISHER_NAMES, OutboxPublisher, WebhookPublisher
from clinic_crm.models.posts import POST_STATUSES

__all__ = ["register", "run_publish", "run_list", "publisher_from_args"]


def register(subparsers: Any) -> None:
    """Add the ``posts`` sub-command with ``publish`` and ``list``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "posts", help="publish and list scheduled posts", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    actions = parser.add_subparsers(dest="action", required=True)

    publish = actions.add_parser("publish", help="publish the posts that are due (for cron)")
    add_db_option(publish)
    publish.add_argument("--publisher", choices=PUBLISHER_NAMES, default="outbox", help="default %(default)s")
    publish.add_argument("--outbox", default=None, help="outbox file or directory/ (default: posts.jsonl)")
    publish.add_argument("--url", default=None, help="webhook URL (default: $CLINIC_CRM_WEBHOOK_URL)")
    publish.add_argument("--timeout", type=float, default=10.0, help="webhook time-out in seconds (default 10)")
    publish.add_argument("--now", default=None, help="act as if it were this instant (ISO 8601 with offset)")
    publish.add_argument("--limit", type=int, default=None, help="claim at most N posts in this run")
    publish.add_argument("--lease", default="10m", help="how long a claim holds (default %(default)s)")
    publish.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    publish.set_defaults(handler=run_publish)

    listing = actions.add_parser("list", help="list a clinic's posts (without their text)")
    add_db_option(listing)
    listing.add_argument("--clinic", type=int, required=True, help="the clinic's id")
    listing.add_argument("--status", choices=POST_STATUSES, default=None)
    listing.add_argument("--json", action="store_true", help="print one JSON object per line")
    listing.set_defaults(handler=run_list)


def publisher_from_args(args: argparse.Namespace) -> OutboxPublisher | WebhookPublisher:
    """The publisher ``--publisher`` names, configured from the options and the environment.

    Raises:
        ValidationError: ``webhook`` without a URL (``.field == "url"``), or a malformed URL.
    """
    if args.publisher == "webhook":
        url = args.url or os.environ.get("CLINIC_CRM_WEBHOOK_URL")
        if not url:
            raise ValidationError("--publisher webhook needs --url or $CLINIC_CRM_WEBHOOK_URL", field="url")
        return WebhookPublisher(url, token=os.environ.get("CLINIC_CRM_WEBHOOK_TOKEN") or None, timeout=args.timeout)
    return OutboxPublisher(args.outbox or os.environ.get("CLINIC_CRM_POSTS_OUTBOX") or "posts.jsonl")


def run_publish(args: argparse.Namespace) -> int:
    """Publish the due posts; print the summary; exit 1 when any publishing attempt failed."""
    if args.limit is not None and args.limit < 0:
        raise ValidationError("--limit must be zero or more", field="limit")
    lease = parse_duration(args.lease, "lease")
    now = parse_instant(args.now) if args.now else None
    publisher = publisher_from_args(args)
    with open_crm(args) as crm:
        report = crm.posts.publish_due(publisher, now=now, limit=args.limit, lease=lease)
    summary = {
        name: int(getattr(report, name)) for name in ("published", "held", "failed", "gave_up", "claimed", "fenced")
    }
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        held_note = "  (an open incident holds them until someone releases them)" if summary["held"] else ""
        failed_note = f"  ({summary['gave_up']} permanently, the rest retried later)" if summary["failed"] else ""
        lines = [
            "posts publish:",
            f"  published   {summary['published']}",
            f"  held        {summary['held']}{held_note}",
            f"  failed      {summary['failed']}{failed_note}",
        ]
        if summary["fenced"]:
            lines.append(f"  taken over  {summary['fenced']}  (another publisher's lease won; nothing overwritten)")
        print("\n".join(lines))
    return 1 if summary["failed"] else 0


def run_list(args: argparse.Namespace) -> int:
    """Print the clinic's posts (id, status, publish time, kind, channel, attempts), oldest first."""
    with open_crm(args) as crm:
        posts = crm.posts.list(args.clinic, status=args.status)
    for post in posts:
        row = {
            "id": post.id,
            "status": post.status,
            "publish_at": post.publish_at.isoformat(),
            "kind": post.kind,
            "channel": post.channel,
            "attempts": post.attempts,
        }
        if args.json:
            print(json.dumps(row, sort_keys=True))
        else:
            print(f"{post.id:>6}  {post.status:<10} {row['publish_at']}  {post.kind:<17} {post.channel}")
    if not posts and not args.json:
        print("no posts")
    return 0
