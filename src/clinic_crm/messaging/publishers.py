"""Publishers: where public posts (scheduled posts, crisis statements) go.

* :class:`OutboxPublisher` writes every post to a JSON-lines file (or one ``<idempotency_key>.json`` per post in
  a directory) — for demos, and for a host that ships the file to its channels itself.
* :class:`WebhookPublisher` posts every post as JSON to a URL (the host's website, a social-media bridge, a
  Zapier/n8n hook), with the post's idempotency key in the ``Idempotency-Key`` header.

Both implement :class:`clinic_crm.messaging.post.Publisher`: ``publish(post) -> str`` (the channel's post id) or
``DeliveryError(retryable=…)``.  Log lines carry ids, channels and statuses, never the text.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import ssl
from datetime import UTC, datetime
from typing import Any

from clinic_crm.errors import DeliveryError
from clinic_crm.messaging._http import JsonPoster, id_from_json
from clinic_crm.messaging.outbox import OutboxFile
from clinic_crm.messaging.post import PublicPost

__all__ = ["OutboxPublisher", "WebhookPublisher", "PUBLISHER_NAMES"]

log = logging.getLogger(__name__)

#: The publisher names ``clinic-crm posts publish --publisher`` accepts.
PUBLISHER_NAMES = ("outbox", "webhook")


def _what(post: PublicPost) -> str:
    """The post's ids for a log line (never its text)."""
    if post.post_id is not None:
        return f"post_id={post.post_id}"
    return f"statement_id={post.statement_id} incident_id={post.incident_id}"


class OutboxPublisher:
    """Writes posts to a JSON-lines file, or one JSON file per post in a directory.

    Each record is the post's fields (``idempotency_key``, ``clinic_id``, ``channel``, ``text``, ``locale``,
    ``kind``, ``post_id``, ``incident_id``, ``statement_id``) plus ``provider_id`` and ``written_at``; read them
    back with :func:`clinic_crm.messaging.outbox.read_outbox`.

    Example::

        publisher = OutboxPublisher("posts.jsonl")
        crm.posts.publish_due(publisher)

    Args:
        path: a file (lines are appended; several processes may share it) or a directory (an existing one, or a
            path ending in ``/``) for one ``<idempotency_key>.json`` per post, so a post handed over twice is
            written once.

    Raises:
        ValidationError: ``path`` is empty.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._file = OutboxFile(path)
        self.path = self._file.path

    def __repr__(self) -> str:
        return f"OutboxPublisher(path={str(self.path)!r}, per_post={self._file.per_item!r})"

    def publish(self, post: PublicPost) -> str:
        """Write ``post`` to the outbox; return ``"outbox:<idempotency_key>"``.

        Raises:
            DeliveryError: the outbox cannot be written (``retryable=True``).
        """
        provider_id = f"outbox:{post.idempotency_key}"
        record: dict[str, Any] = dataclasses.asdict(post)
        record.update(provider_id=provider_id, written_at=datetime.now(UTC).isoformat())
        try:
            self._file.write(post.idempotency_key, json.dumps(record, ensure_ascii=False, sort_keys=True))
        except OSError as exc:
            log.warning("outbox publisher failed %s channel=%s error=%s", _what(post), post.channel, type(exc).__name__)
            raise DeliveryError(f"outbox cannot be written ({type(exc).__name__})", retryable=True) from None
        log.info("outbox publisher wrote %s channel=%s", _what(post), post.channel)
        return provider_id


class WebhookPublisher:
    """Publishes each post by posting it as JSON to a URL.

    The request: ``POST <url>``, body the post's fields as a JSON object (``idempotency_key``, ``clinic_id``,
    ``channel``, ``text``, ``locale``, ``kind``, ``post_id``, ``incident_id``, ``statement_id``), headers
    ``Idempotency-Key: <key>`` (the same for every attempt at one post, so the receiver can drop repeats),
    ``Content-Type: application/json; charset=utf-8`` and ``Authorization: Bearer <token>`` when a token is set.

    The answer: ``2xx`` -> the channel's post id is the JSON answer's ``"id"``, else the ``X-Post-Id`` header,
    else the ``Location`` header, else the idempotency key; ``408``/``425``/``429``/``5xx``, time-outs and
    connection errors -> ``DeliveryError(retryable=True)``; other ``4xx`` and redirects ->
    ``DeliveryError(retryable=False)``.  Error messages hold the status, never the text.

    Example::

        publisher = WebhookPublisher("https://example.org/hooks/posts", token="…")
        crm.posts.publish_due(publisher)

    Args:
        url: the endpoint (``http://`` or ``https://``).
        token: sent as ``Authorization: Bearer <token>`` when given.
        timeout: seconds for connecting and for the answer.
        ssl_context: the TLS context for ``https`` (default: the system's, verifying the server).
        use_env_proxy: honour ``http_proxy``/``https_proxy``/``no_proxy`` from the environment.

    Raises:
        ValidationError: the URL is not ``http(s)://host…`` (``.field == "url"``) or the timeout is not positive.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        use_env_proxy: bool = True,
    ) -> None:
        self._http = JsonPoster(
            url, what="webhook", token=token, timeout=timeout, ssl_context=ssl_context, use_env_proxy=use_env_proxy
        )
        self.url = url
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"WebhookPublisher(url={self._http.describe()}, timeout={self.timeout!r})"

    def publish(self, post: PublicPost) -> str:
        """Post ``post`` to the webhook; return the channel's post id.

        Raises:
            DeliveryError: ``retryable=True`` for 408/425/429/5xx, time-outs and connection errors;
                ``retryable=False`` for other 4xx and redirects.
        """
        request = self._http.request(dataclasses.asdict(post), idempotency_key=post.idempotency_key)
        try:
            answer = self._http.send(request)
        except DeliveryError as err:
            log.warning(
                "webhook failed %s channel=%s status=%s error=%s",
                _what(post),
                post.channel,
                "retryable" if err.retryable else "permanent",
                err,
            )
            raise
        found = id_from_json(answer.body) or answer.headers.get("X-Post-Id") or answer.headers.get("Location")
        log.info("webhook published %s channel=%s http_status=%s", _what(post), post.channel, answer.status)
        return str(found)[:200] if found else post.idempotency_key
