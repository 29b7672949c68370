"""SMS reminders through an HTTP gateway (stdlib ``urllib`` only, through :mod:`._http` as the webhook publisher).

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

import logging
import ssl
import urllib.request

from clinic_crm.errors import DeliveryError
from clinic_crm.messaging._http import JsonPoster, id_from_json
from clinic_crm.messaging.message import OutboundMessage

__all__ = ["HttpSmsSender"]

log = logging.getLogger(__name__)


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
        self._http = JsonPoster(
            url, what="SMS gateway", token=token, timeout=timeout, ssl_context=ssl_context, use_env_proxy=use_env_proxy
        )
        self.url = url
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"HttpSmsSender(url={self._http.describe()}, timeout={self.timeout!r})"

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
        payload = {"to": message.to, "body": message.body, "reference": message.idempotency_key}
        return self._http.request(payload, idempotency_key=message.idempotency_key)

    def send(self, message: OutboundMessage) -> str:
        """Post ``message`` to the gateway; return the gateway's message id.

        Raises:
            DeliveryError: ``retryable=True`` for 408/425/429/5xx, time-outs and connection errors;
                ``retryable=False`` for other 4xx, redirects and non-SMS messages.
        """
        request = self.request_for(message)
        try:
            answer = self._http.send(request)
        except DeliveryError as err:
            self._log_failure(message, err)
            raise
        provider_id = id_from_json(answer.body) or message.idempotency_key
        log.info(
            "http-sms sent reminder_id=%s idempotency_key=%s status=sent http_status=%s",
            message.reminder_id,
            message.idempotency_key,
            answer.status,
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
