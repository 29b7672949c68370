"""The content calendar: schedule posts, release the ones an incident held, cancel, list."""

from __future__ import annotations

import builtins
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic_crm.api._unit import reads
from clinic_crm.errors import InvalidTransition
from clinic_crm.models import Clinic
from clinic_crm.models.posts import POST_KINDS, POST_STATUSES, Post
from clinic_crm.services._common import get_or_404, require_text
from clinic_crm.services.posts.rules import check_cancel, check_channel, check_post_text, check_release
from clinic_crm.values import aware, check_choice, utcnow

__all__ = ["schedule_post", "release_post", "cancel_post", "list_posts", "get_post"]


def schedule_post(
    session: Session,
    clinic_id: int,
    *,
    channel: str,
    text: str | dict[str, str],
    publish_at: datetime,
    kind: str = "health_education",
) -> Post:
    """Put a post on the clinic's content calendar (status ``"scheduled"``).

    The first ``publish_due`` at or after ``publish_at`` publishes it — unless the clinic then has an open
    (non-drill) incident, which holds it until someone releases it.

    Args:
        clinic_id: the clinic that speaks.
        channel: the clinic's name for the channel (``"website"``, ``"facebook"``; 1–50 letters, digits, ``_.:-``).
        text: a str (in the clinic's locale) or ``{locale: str}`` (Babel locale ids such as ``"zh_TW"``).
        publish_at: aware datetime; a past instant makes it due at once.
        kind: ``"health_education"`` (default), ``"news"``, ``"event"`` or ``"promotion"``.

    Returns:
        The new :class:`~clinic_crm.models.Post`.

    Raises:
        NotFound: no such clinic.
        ValidationError: ``.field`` is ``"channel"``, ``"text"``, ``"publish_at"`` or ``"kind"``.
        NaiveDatetimeError: ``publish_at`` has no time zone.
    """
    checked_channel = check_channel(channel)
    checked_text = check_post_text(text)
    due = aware(publish_at, "publish_at")
    checked_kind = check_choice(kind, POST_KINDS, "kind")
    get_or_404(session, Clinic, clinic_id)
    post = Post(
        clinic_id=clinic_id,
        channel=checked_channel,
        text=checked_text,
        kind=checked_kind,
        publish_at=due,
        ready_at=due,
        status="scheduled",
        idempotency_key=f"post-{uuid.uuid4().hex}",
        created_at=utcnow(),
    )
    session.add(post)
    session.flush()
    return post


def release_post(session: Session, post_id: int, *, at: datetime, by: str) -> Post:
    """Release a held post after someone looked at it again: ``"scheduled"``, due at once (at ``at``).

    If its clinic still has an open incident when it falls due, it is held again.

    Args:
        post_id: the held post.
        at: aware datetime of the decision; the post is due from then.
        by: the member of staff who released it.

    Raises:
        NotFound: no such post.
        InvalidTransition: the post is not ``"held"``.
        ValidationError: ``.field`` is ``"at"`` or ``"by"``; NaiveDatetimeError.
    """
    when = aware(at, "at")
    who = require_text(by, "by")
    post = get_or_404(session, Post, post_id, for_update=True)
    check_release(post.status)
    post.status = "scheduled"
    post.ready_at = when
    post.next_attempt_at = None
    post.released_at = when
    post.released_by = who
    session.flush()
    return post


def cancel_post(session: Session, post_id: int, *, at: datetime, by: str) -> Post:
    """Cancel a scheduled or held post: it is never published.

    Args:
        post_id: the post.
        at: aware datetime of the decision.
        by: the member of staff who cancelled it.

    Raises:
        NotFound: no such post.
        InvalidTransition: the post is published, failed or cancelled, or a publisher is publishing it right
            now (its claim's lease has not ended at ``at``).
        ValidationError: ``.field`` is ``"at"`` or ``"by"``; NaiveDatetimeError.
    """
    when = aware(at, "at")
    who = require_text(by, "by")
    post = get_or_404(session, Post, post_id, for_update=True)
    check_cancel(post.status)
    if post.status == "scheduled" and post.claim_token is not None and post.ready_at > when:
        raise InvalidTransition("the post is being published right now; look again after the publisher's lease")
    post.status = "cancelled"
    post.claim_token = None
    post.cancelled_at = when
    post.cancelled_by = who
    session.flush()
    return post


def list_posts(session: Session, clinic_id: int, *, status: str | None = None) -> builtins.list[Post]:
    """The clinic's posts (of one status if given), in publishing order (``publish_at``, then id).

    Raises:
        NotFound: no such clinic.
        ValidationError: ``.field == "status"`` for an unknown status.
    """
    if status is not None:
        check_choice(status, POST_STATUSES, "status")
    get_or_404(session, Clinic, clinic_id)
    query = select(Post).where(Post.clinic_id == clinic_id)  # type: ignore[arg-type]
    if status is not None:
        query = query.where(Post.status == status)  # type: ignore[arg-type]
    query = query.order_by(Post.publish_at, Post.id)  # type: ignore[arg-type]
    return builtins.list(session.scalars(query))


@reads
def get_post(session: Session, post_id: int) -> Post:
    """Return one post.  Raises ``NotFound``."""
    return get_or_404(session, Post, post_id)
