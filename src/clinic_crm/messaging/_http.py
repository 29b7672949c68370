"""Posting JSON to an HTTP endpoint, with the answer mapping every HTTP sender and publisher shares (stdlib only).

* ``2xx`` -> an :class:`HttpAnswer` (status, the first 64 KiB of the body, the headers);
* ``408``, ``425``, ``429``, ``5xx``, time-outs and connection errors -> ``DeliveryError(retryable=True)``;
* any other ``4xx`` -> ``DeliveryError(retryable=False)``;
* redirects are not followed (a ``POST`` must not turn into a ``GET``) -> ``DeliveryError(retryable=False)``.

Error messages name the endpoint's role and the status only: never the body sent or the answer's body (it may
echo what it was given).
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clinic_crm.errors import DeliveryError, ValidationError

__all__ = ["JsonPoster", "HttpAnswer", "RETRYABLE_STATUSES", "MAX_ANSWER_BYTES", "id_from_json"]

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


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A ``2xx`` answer.

    Attributes:
        status: the HTTP status.
        body: the first 64 KiB of the answer's body.
        headers: the answer's headers (case-insensitive look-up with ``.get``).
    """

    status: int
    body: bytes
    headers: Any


class JsonPoster:
    """Posts JSON bodies to one URL and maps the answer (see the module's docstring).

    Args:
        url: the endpoint (``http://`` or ``https://``).
        what: the endpoint's role in error messages (``"SMS gateway"``, ``"webhook"``).
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
        what: str,
        token: str | None = None,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        use_env_proxy: bool = True,
    ) -> None:
        parts = urllib.parse.urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc or not parts.hostname:
            raise ValidationError(f"{what} URL must be http:// or https:// with a host", field="url")
        if timeout <= 0:
            raise ValidationError("timeout must be positive", field="timeout")
        self.url = url
        self.what = what
        self.timeout = timeout
        self._token = token
        handlers: list[urllib.request.BaseHandler] = [
            _NoRedirect(),
            urllib.request.HTTPSHandler(context=ssl_context or ssl.create_default_context()),
        ]
        if not use_env_proxy:
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    def describe(self) -> str:
        """The URL without its query or credentials (for ``repr`` and logs)."""
        parts = urllib.parse.urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}{parts.path!s}"

    def request(self, payload: Mapping[str, Any], *, idempotency_key: str) -> urllib.request.Request:
        """The ``POST`` of ``payload`` as JSON with the ``Idempotency-Key`` header (built, not sent)."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "Idempotency-Key": idempotency_key,
            "User-Agent": "clinic-crm",
        }
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return urllib.request.Request(self.url, data=body, headers=headers, method="POST")

    def send(self, request: urllib.request.Request) -> HttpAnswer:
        """Send ``request``; return the ``2xx`` answer.

        Raises:
            DeliveryError: ``retryable=True`` for 408/425/429/5xx, time-outs and connection errors;
                ``retryable=False`` for other 4xx and redirects.
        """
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return HttpAnswer(int(response.status), response.read(MAX_ANSWER_BYTES), response.headers)
        except urllib.error.HTTPError as exc:
            status = int(exc.code)
            exc.close()
            retryable = status in RETRYABLE_STATUSES or status >= 500
            if 300 <= status < 400:
                reason = f"{self.what} answered a redirect ({status}); configure its final URL"
            else:
                reason = f"{self.what} answered HTTP {status}"
            raise DeliveryError(reason, retryable=retryable, code=status) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:  # time-outs are OSError
            cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise DeliveryError(f"{self.what} unreachable ({type(cause).__name__})", retryable=True) from None


def id_from_json(raw: bytes) -> str | None:
    """The ``"id"`` of a JSON object answer, as text (at most 200 characters); ``None`` when there is none."""
    try:
        data = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        return None
    if isinstance(data, dict):
        value = data.get("id")
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)[:200]
    return None
