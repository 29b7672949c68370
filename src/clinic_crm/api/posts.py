"""``crm.posts``: the clinic's scheduled public posts."""

from __future__ import annotations

from datetime import datetime, timedelta

from clinic_crm.api._unit import ServiceGroup, service
from clinic_crm.errors import ClinicCRMError
from clinic_crm.messaging.post import Publisher
from clinic_crm.services import posts as svc
from clinic_crm.services.posts.publishing import DEFAULT_BATCH_SIZE, PublishReport
from clinic_crm.services.reminders.dispatch import RetryPolicy

__all__ = ["PostsAPI", "PublishReport"]


class PostsAPI(ServiceGroup):
    """The clinic's scheduled public posts: a content calendar that an open incident holds."""

    schedule = service(svc.schedule_post)
    release = service(svc.release_post)
    cancel = service(svc.cancel_post)
    list = service(svc.list_posts)
    get = service(svc.get_post)

    def publish_due(
        self,
        publisher: Publisher,
        *,
        now: datetime | None = None,
        limit: int | None = None,
        lease: timedelta = timedelta(minutes=10),
        policy: RetryPolicy | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> PublishReport:
        """Publish the due posts through ``publisher``, each once even with several callers at once.

        A due post of a clinic with an open non-drill incident is not published: it becomes ``"held"`` until
        :meth:`release`.  Each outcome is committed as soon as the publisher returns.

        Args:
            publisher: an object with ``publish(PublicPost) -> str`` (the channel's post id).
            now: the instant to publish at (aware; default: the clock).
            limit: the most posts this call claims.
            lease: after this long (measured against ``now``) another caller may take a claimed post over,
                with the same idempotency key.
            policy: retries of a retryable ``DeliveryError`` (default: 5 attempts, 5 min doubling, at most 6 h;
                then ``"failed"``).
            batch_size: posts claimed per claim transaction.

        Returns:
            ``PublishReport(published, held, failed, …)``: ``failed`` counts every attempt that raised.

        Raises:
            ClinicCRMError: called inside ``crm.transaction()`` or ``crm.bind()`` (it commits by itself).
            ValidationError: malformed arguments; NaiveDatetimeError.
        """
        if self._unit.bound:
            raise ClinicCRMError(
                "publish_due commits each outcome itself, so it cannot run inside crm.transaction() or crm.bind(); "
                "call crm.posts.publish_due(...) on the facade"
            )
        return svc.publish_due(
            self._unit.factory,
            publisher,
            now=now,
            limit=limit,
            lease=lease,
            policy=policy,
            batch_size=batch_size,
            guard=self._unit.guard,
        )
