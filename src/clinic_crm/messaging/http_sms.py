"""SMS reminders through an HTTP gateway (stdlib ``urllib`` only).

The gateway receives ``POST <url>`` with a JSON body ``{"to": "+886…", "body": "…", "reference": "<key>"}``
and the headers ``Idempotency-Key: <key>``, ``Authorization: Bearer <token>`` (when a token is set) and
``Content-Type: application/json``.  The key is the reminder's idempotency key, the same across retries
and dispatcher take-overs, so a gateway that honours it never sends a message twice.

Answers are mapped as follows:

* ``2xx`` -> sent; the provider id is the JSON answer's ``"id"`` (the idempotency key when there is none);
* ``408``, ``425``, ``429``, ``5xx``, time-outs and connection errors -> ``DeliveryError(retryable=True)``;
* any other ``4xx`` -> ``DeliveryError(retryable=False)``;
* redirects are not followed (a ``POST`` must not turn into a ``GET``) -> ``DeliveryError(retryable=False)``.

Neither log lines nor error messages carry the phone number or the text; the gateway's answer body is
not quoted either, since it may echo them.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from clinic_crm.errors import DeliveryError, ValidationError
from clinic_crm.messaging.message import OutboundMessage

__all__ = ["HttpSmsSender"]

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 425, 429})
MAX_ANSWER_BYTES = 64 * 1024


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Surface 3xx answers as errors instead of re-sending the request elsewhere."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


class HttpSmsSender:
    """Sends SMS reminders by posting JSON to an HTTP gateway.

    Example::

        sender = HttpSmsSender("https://sms.example.com/v1/messages", token="…", timeout=10)
        crm.reminders.dispatch(sender)

    Args:
        url: the gateway endpoint (``http://`` or ``https://``).
        token: sent as ``Authorization: Bearer <token>`` when given.
        timeout: seconds for connecting and for the answer.
        ssl_context: the TLS context for ``https`` (default: the system's, verifying the server).
        use_env_proxy: honour ``http_proxy``/``https_proxy``/``no_proxy`` from the environment.

    Raises:
        ValidationError: the URL is not ``http(s)://host…`` or the timeout is not positive.
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
        parts = urllib.parse.urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError("SMS gateway URL must be http:// or https:// with a host", field="url")
        if timeout <= 0:
            raise ValidationError("timeout must be positive", field="timeout")
        self.url = url
        self._token = token
        self.timeout = timeout
        handlers: list[urllib.request.BaseHandler] = [
            _NoRedirect(),
            urllib.request.HTTPSHandler(context=ssl_context or ssl.create_default_context()),
        ]
        if not use_env_proxy:
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    def __repr__(self) -> str:
        parts = urllib.parse.urlsplit(self.url)
        return f"HttpSmsSender(url={parts.scheme}://{parts.hostname}{parts.path!s}, timeout={self.timeout!r})"

    def request_for(self, message: OutboundMessage) -> urllib.request.Request:
        """The HTTP request that delivers ``message`` (built, not sent).

        Raises:
            DeliveryError: the message is not an SMS (``retryable=False``).
        """
        if message.channel != "sms":
            raise DeliveryError(
                f"HttpSmsSender delivers SMS only, reminder {message.reminder_id} is {message.channel!r}",
                retryable=False,
            )
        body = json.dumps(
            {"to": message.to, "body": message.body, "reference": message.idempotency_key}, ensure_ascii=False
        ).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "Idempotency-Key": message.idempotency_key,
            "User-Agent": "clinic-crm",
        }
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return urllib.request.Request(self.url, data=body, headers=headers, method="POST")

    def send(self, message: OutboundMessage) -> str:
        """Post ``message`` to the gateway; return the gateway's message id.

        Raises:
            DeliveryError: ``retryable=True`` for 408/425/429/5xx, time-outs and connection errors;
                ``retryable=False`` for other 4xx, redirects and non-SMS messages.
        """
        request = self.request_for(message)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status = int(response.status)
                raw = response.read(MAX_ANSWER_BYTES)
        except urllib.error.HTTPError as exc:
            status = int(exc.code)
            exc.close()
            retryable = status in RETRYABLE_STATUSES or status >= 500
            if 300 <= status < 400:
                reason = f"SMS gateway answered a redirect ({status}); configure its final URL"
            else:
                reason = f"SMS gateway answered HTTP {status}"
            err = DeliveryError(reason, retryable=retryable, code=status)
            self._log_failure(message, err)
            raise err from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:  # time-outs are OSError
            cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            err = DeliveryError(f"SMS gateway unreachable ({type(cause).__name__})", retryable=True)
            self._log_failure(message, err)
            raise err from None
        provider_id = _id_from(raw) or message.idempotency_key
        log.info(
            "http-sms sent reminder_id=%s idempotency_key=%s status=sent http_status=%s",
            message.reminder_id,
            message.idempotency_key,
            status,
        )
        return provider_id

    @staticmethod
    def _log_failure(message: OutboundMessage, err: DeliveryError) -> None:
        log.warning(
            "http-sms failed reminder_id=%s idempotency_key=%s status=%s error=%s",
            message.reminder_id,
            message.idempotency_key,
            "retryable" if err.retryable else "permanent",
            err,
        )


def _id_from(raw: bytes) -> str | None:
    """The ``"id"`` of a JSON object answer, as text; ``None`` when there is none."""
    try:
        data = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        return None
    if isinstance(data, dict):
        value = data.get("id")
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)[:200]
    return None
