"""Publishing due posts: claim, check for an open incident, publish, record — each step its own short transaction.

The same claim protocol as reminder dispatch (:mod:`clinic_crm.services.reminders.dispatch`), for a table
that sees a few rows a day:

* **Claim** (one transaction): up to a batch of due posts (``status = 'scheduled' AND ready_at <= now``, oldest
  first) get a fresh claim token and a lease (``ready_at = now + lease``).  PostgreSQL skips rows another
  claimer holds (``FOR UPDATE SKIP LOCKED``); SQLite serialises claims with its ``BEGIN IMMEDIATE`` write lock.
  In the same transaction the claimed posts of a clinic with an open non-drill incident become ``"held"``.
* **Per post** (one transaction): renew the claim and look again for an open incident (one ``UPDATE …
  RETURNING``); a post another publisher took over is skipped, one whose clinic has meanwhile declared an
  incident is held.
* **Publish** with no transaction open, then **record** the outcome (one transaction), every write fenced with
  ``WHERE id = :id AND claim_token = :token`` so a publisher whose lease was taken over changes nothing.

A publisher that dies mid-post leaves the post claimed; when the lease ends (measured against ``now``) the next
``publish_due`` takes it over with the same idempotency key, so only that one post can reach its channel twice
— and a channel that honours the key drops the repeat.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Select, Table, exists, false, select, update
from sqlalchemy.orm import Session, sessionmaker

from clinic_crm.db.runner import Guard, Runner
from clinic_crm.errors import DeliveryError, ValidationError
from clinic_crm.messaging.post import PublicPost
from clinic_crm.models import Clinic, Incident
from clinic_crm.models.posts import Post
from clinic_crm.services._common import claim_run_clock
from clinic_crm.services.posts.rules import choose_text
from clinic_crm.services.reminders.dispatch import ClaimBudget, RetryPolicy

__all__ = ["PublishReport", "publish_due", "claim_query", "public_post", "DEFAULT_BATCH_SIZE", "DEFAULT_POLICY"]

log = logging.getLogger("clinic_crm.posts")

#: Posts claimed per claim transaction.
DEFAULT_BATCH_SIZE = 50
#: Retries of a retryable failure: 5 attempts in all, 5 min doubling (at most 6 h) between them; then ``"failed"``.
DEFAULT_POLICY = RetryPolicy()

_post = cast(Table, Post.__table__)  # type: ignore[attr-defined]
_incident = cast(Table, Incident.__table__)  # type: ignore[attr-defined]
_clinic = cast(Table, Clinic.__table__)  # type: ignore[attr-defined]


@dataclass(slots=True)
class PublishReport:
    """What one ``publish_due`` call did.

    Attributes:
        published: posts the publisher accepted (and whose outcome this call recorded).
        held: due posts that became ``"held"`` because their clinic has an open non-drill incident.
        failed: publishing attempts that raised (``DeliveryError`` or anything else), retried later or not.
        gave_up: posts that became ``"failed"`` in this call (a permanent error, or the last attempt).
        claimed: posts this call claimed.
        fenced: posts (or outcomes) left alone because another publisher had taken them over.
    """

    published: int = 0
    held: int = 0
    failed: int = 0
    gave_up: int = 0
    claimed: int = 0
    fenced: int = 0


@dataclass(frozen=True, slots=True)
class _Item:
    id: int
    clinic_id: int
    channel: str
    text: Any
    kind: str
    idempotency_key: str
    attempts: int
    clinic_locale: str


def publish_due(
    factory: sessionmaker[Session],
    publisher: Any,
    *,
    now: datetime | None = None,
    limit: int | None = None,
    lease: timedelta = timedelta(minutes=10),
    policy: RetryPolicy | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    guard: Guard = nullcontext,
) -> PublishReport:
    """Publish every due post (or up to ``limit``) through ``publisher``; commit each outcome at once.

    Args:
        factory: makes the sessions; each claim, check and outcome is its own short transaction.
        publisher: has ``publish(PublicPost) -> str`` (the channel's post id), raising ``DeliveryError``.
        now: the instant to publish at (default: the clock, read afresh at every step).
        limit: the most posts this call claims (``None``: until nothing is due).
        lease: how long a claim holds before another caller may take the post over.
        policy: retries of retryable failures (default :data:`DEFAULT_POLICY`: 5 attempts, then ``"failed"``).
        batch_size: posts claimed per claim transaction.
        guard: a lock around every transaction (the facade's in-memory SQLite lock).

    Returns:
        A :class:`PublishReport`.

    Raises:
        ValidationError: a malformed argument (nothing claimed).
    """
    clock = claim_run_clock(now, limit=limit, lease=lease, batch_size=batch_size)
    if not callable(getattr(publisher, "publish", None)):
        raise ValidationError("publisher must have a publish(post) method", field="publisher")
    policy = policy or DEFAULT_POLICY
    runner = Runner(factory, guard)  # Core statements in session transactions: no DB-API connection is kept
    dialect = runner.dialect.name
    report = PublishReport()
    budget = ClaimBudget(limit, batch_size)
    while size := budget.next():
        token = uuid.uuid4().hex
        with runner.transaction() as session:
            items, held = _claim(session, dialect, token, size, clock(), lease)
        claimed = len(items) + held
        if not claimed:
            break
        report.claimed += claimed
        report.held += held
        budget.took(claimed)
        _publish_batch(runner, publisher, token, items, clock, lease, policy, report)
    return report


def _open_incident() -> Any:
    """The id of an open non-drill incident of the post's clinic (a correlated scalar sub-query), or NULL."""
    i = _incident
    return (
        select(i.c.id)
        .where(i.c.clinic_id == _post.c.clinic_id, i.c.status == "open", i.c.drill == false())
        .order_by(i.c.id)
        .limit(1)
        .correlate(_post)
        .scalar_subquery()
    )


def _fenced(post_id: int, token: str) -> Any:
    p = _post
    return update(p).where(p.c.id == post_id, p.c.claim_token == token, p.c.status == "scheduled")


def claim_query(dialect: str, size: int, now: datetime) -> Select[Any]:
    """The ids of up to ``size`` claimable posts, oldest ``ready_at`` first (on the ``(status, ready_at)`` index).

    Due posts and posts whose claim's lease ended are both ``scheduled`` with ``ready_at <= now``.  PostgreSQL
    skips rows another claimer has locked (``FOR UPDATE SKIP LOCKED``).  Exposed for ``EXPLAIN`` checks.
    """
    p = _post
    due = select(p.c.id).where(p.c.status == "scheduled", p.c.ready_at <= now).order_by(p.c.ready_at, p.c.id)
    due = due.limit(size)
    if dialect == "postgresql":
        due = due.with_for_update(skip_locked=True)
    return due


def _claim(
    session: Session, dialect: str, token: str, size: int, now: datetime, lease: timedelta
) -> tuple[list[_Item], int]:
    """Claim up to ``size`` due posts; hold those of clinics with an open incident.  Returns (to publish, held)."""
    p, i = _post, _incident
    session.execute(
        update(p)
        .where(p.c.id.in_(claim_query(dialect, size, now).scalar_subquery()))
        .values(claim_token=token, claimed_at=now, ready_at=now + lease)
    )
    incident = exists().where(i.c.clinic_id == p.c.clinic_id, i.c.status == "open", i.c.drill == false())
    held = session.execute(
        update(p)
        .where(p.c.claim_token == token, p.c.status == "scheduled", incident)
        .values(status="held", held_at=now, held_by_incident_id=_open_incident(), claim_token=None, ready_at=now)
        .returning(p.c.id)
    ).all()
    for (post_id,) in held:
        log.info("post %s held: its clinic has an open incident", post_id)
    rows = session.execute(
        select(
            p.c.id,
            p.c.clinic_id,
            p.c.channel,
            p.c.text,
            p.c.kind,
            p.c.idempotency_key,
            p.c.attempts,
            _clinic.c.locale,
        )
        .join(_clinic, _clinic.c.id == p.c.clinic_id)
        .where(p.c.claim_token == token, p.c.status == "scheduled")
        .order_by(p.c.publish_at, p.c.id)
    ).all()
    return [_Item(*row) for row in rows], len(held)


def _publish_batch(
    runner: Runner,
    publisher: Any,
    token: str,
    items: Sequence[_Item],
    clock: Callable[[], datetime],
    lease: timedelta,
    policy: RetryPolicy,
    report: PublishReport,
) -> None:
    """Check, publish and record every claimed post; hand back the rest if something stops the batch."""
    done = 0
    try:
        for item in items:
            now = clock()
            with runner.transaction() as session:
                state = _renew(session, item, token, now, lease)
            done += 1
            if state == "fenced":
                report.fenced += 1
                log.warning("post %s was taken over by another publisher; not published", item.id)
                continue
            if state == "held":
                report.held += 1
                continue
            values, kind = _attempt(publisher, item, clock(), policy)
            with runner.transaction() as session:
                result = cast(CursorResult[Any], session.execute(_fenced(item.id, token).values(**values)))
                recorded = result.rowcount == 1
            _count(report, item, kind, recorded)
    finally:
        leftover = [item.id for item in items[done:]]
        if leftover:
            _hand_back(runner, token, leftover, clock())


def _renew(session: Session, item: _Item, token: str, now: datetime, lease: timedelta) -> str:
    """Renew the claim and look for an open incident: ``"fenced"``, ``"held"`` or ``"publish"``.

    (The incident is looked up by a second statement: SQLite does not correlate a sub-query in ``RETURNING``.)
    """
    renewed = session.execute(_fenced(item.id, token).values(ready_at=now + lease).returning(_post.c.id)).first()
    if renewed is None:
        return "fenced"
    i = _incident
    incident_id = session.execute(
        select(i.c.id)
        .where(i.c.clinic_id == item.clinic_id, i.c.status == "open", i.c.drill == false())
        .order_by(i.c.id)
        .limit(1)
    ).scalar()
    if incident_id is not None:
        session.execute(
            _fenced(item.id, token).values(
                status="held", held_at=now, held_by_incident_id=incident_id, claim_token=None, ready_at=now
            )
        )
        log.info("post %s held: its clinic has an open incident", item.id)
        return "held"
    return "publish"


def public_post(item: _Item) -> PublicPost:
    """The :class:`PublicPost` a publisher gets for a claimed post."""
    locale, text = choose_text(item.text, item.clinic_locale)
    return PublicPost(
        idempotency_key=item.idempotency_key,
        clinic_id=item.clinic_id,
        channel=item.channel,
        text=text,
        locale=locale,
        kind=item.kind,
        incident_id=None,
        statement_id=None,
        post_id=item.id,
    )


def _attempt(publisher: Any, item: _Item, now: datetime, policy: RetryPolicy) -> tuple[dict[str, Any], str]:
    """Call the publisher (no transaction open); the column values to record and ``published|retry|failed``."""
    post = public_post(item)
    try:
        provider_id = publisher.publish(post)
    except DeliveryError as exc:
        return _failure(item, now, policy, retryable=exc.retryable, error=exc.stored_text())
    except Exception as exc:  # noqa: BLE001 - a broken publisher must not stop the batch; retried
        log.warning("publisher raised %s for post %s; will retry", type(exc).__name__, item.id)
        return _failure(item, now, policy, retryable=True, error=f"{type(exc).__name__} raised by the publisher")
    log.info("post %s published on %s", item.id, item.channel)
    values = {
        "status": "published",
        "published_at": now,
        "provider_post_id": None if provider_id is None else str(provider_id)[:200],
        "next_attempt_at": None,
        "last_error": None,
        "claim_token": None,
    }
    return values, "published"


def _failure(
    item: _Item, now: datetime, policy: RetryPolicy, *, retryable: bool, error: str
) -> tuple[dict[str, Any], str]:
    attempts = item.attempts + 1
    if retryable and attempts < policy.max_attempts:
        retry_at = now + policy.delay(attempts)
        log.info("post %s: attempt %d failed, retry at %s", item.id, attempts, retry_at.isoformat())
        values = {
            "attempts": attempts,
            "next_attempt_at": retry_at,
            "ready_at": retry_at,
            "last_error": error,
            "claim_token": None,
        }
        return values, "retry"
    log.info("post %s: attempt %d failed; giving up", item.id, attempts)
    return {"status": "failed", "attempts": attempts, "last_error": error, "claim_token": None}, "failed"


def _count(report: PublishReport, item: _Item, kind: str, recorded: bool) -> None:
    if kind in ("retry", "failed"):
        report.failed += 1  # the attempt failed whether or not the post is still ours
    if not recorded:
        report.fenced += 1
        log.warning("post %s was taken over by another publisher; outcome %s not recorded", item.id, kind)
    elif kind == "published":
        report.published += 1
    elif kind == "failed":
        report.gave_up += 1


def _hand_back(runner: Runner, token: str, ids: Sequence[int], now: datetime) -> None:
    """Make claimed posts this call did not get to due again at once (best effort: their lease expires anyway)."""
    p = _post
    try:
        with runner.transaction() as session:
            session.execute(
                update(p)
                .where(p.c.id.in_(ids), p.c.claim_token == token, p.c.status == "scheduled")
                .values(claim_token=None, ready_at=now)
            )
    except Exception:  # noqa: BLE001 - never mask the error that stopped the batch
        log.exception("could not hand back %d claimed posts; their lease will expire", len(ids))
