"""E-mail reminders over SMTP (stdlib ``smtplib``), with STARTTLS or implicit TLS.

Every message carries a ``Message-ID`` and an ``X-Idempotency-Key`` header derived from the
reminder's idempotency key, so a retry or a take-over after a crash produces the *same*
``Message-ID`` and a mail system (or a human) can drop the duplicate.  The ``Message-ID`` is
what :meth:`SmtpSender.send` returns as the provider id.

Errors are mapped to :class:`~clinic_crm.errors.DeliveryError`:

* connection problems, time-outs, TLS failures and any ``4xx`` answer -> ``retryable=True``;
* a ``5xx`` answer to the recipient, the sender or the data -> ``retryable=False``;
* server-level problems that are not about this message (authentication refused, STARTTLS
  not offered) -> ``retryable=True``: once the configuration is fixed, the retry succeeds.

Neither log lines nor error messages carry the recipient's address, the subject or the body
(a server's reply text may echo the address, so only its numeric code is kept).
"""

from __future__ import annotations

import hashlib
import logging
import re
import smtplib
import ssl
import threading
from email.message import EmailMessage
from email.utils import formatdate
from types import TracebackType

from clinic_crm.errors import DeliveryError, ValidationError
from clinic_crm.messaging.message import OutboundMessage

__all__ = ["SmtpSender", "message_id_for"]

log = logging.getLogger(__name__)

_SAFE_KEY = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_SAFE_DOMAIN = re.compile(r"^[A-Za-z0-9.-]{1,253}$")


def message_id_for(idempotency_key: str, domain: str) -> str:
    """The ``Message-ID`` for a reminder's idempotency key: the same key always gives the same id.

    Args:
        idempotency_key: the reminder's idempotency key.
        domain: the right-hand side of the id (usually the sending domain).

    Returns:
        ``<key@domain>``; a key with characters not allowed in a Message-ID is replaced by its SHA-256.
    """
    local = (
        idempotency_key if _SAFE_KEY.match(idempotency_key) else hashlib.sha256(idempotency_key.encode()).hexdigest()
    )
    return f"<{local}@{domain}>"


class SmtpSender:
    """Sends e-mail reminders through an SMTP server; one connection is kept open and reused.

    Example::

        sender = SmtpSender("smtp.example.com", 587, from_addr="Sunrise Dental <no-reply@example.com>",
                            username="no-reply@example.com", password="…", starttls=True)
        crm.reminders.dispatch(sender)
        sender.close()

    Args:
        host: the SMTP server's name or address.
        port: its port (25, 587 for STARTTLS, 465 for implicit TLS).
        from_addr: the ``From`` header and envelope sender.
        username: log in with this user (requires ``starttls`` or ``use_ssl`` unless ``allow_insecure_auth``).
        password: the password for ``username``.
        starttls: upgrade the connection with STARTTLS; a server that does not offer it is refused.
        use_ssl: connect with implicit TLS (``SMTP_SSL``, port 465).
        ssl_context: the TLS context (default: ``ssl.create_default_context()``, verifying the server).
        timeout: seconds for connecting and for each SMTP command.
        message_id_domain: the domain of generated Message-IDs (default: the domain of ``from_addr``).
        allow_insecure_auth: allow ``username`` without TLS (only for a local relay).

    Raises:
        ValidationError: contradictory or missing settings (``field`` names the parameter).
    """

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        from_addr: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        use_ssl: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
        message_id_domain: str | None = None,
        allow_insecure_auth: bool = False,
    ) -> None:
        if not host or not host.strip():
            raise ValidationError("SMTP host is required", field="host")
        if not 0 < port < 65536:
            raise ValidationError("SMTP port must be between 1 and 65535", field="port")
        if not from_addr or "@" not in from_addr:
            raise ValidationError("from_addr must be an e-mail address", field="from_addr")
        if starttls and use_ssl:
            raise ValidationError("choose STARTTLS or implicit TLS (use_ssl), not both", field="starttls")
        if username and not (starttls or use_ssl or allow_insecure_auth):
            raise ValidationError(
                "refusing to send an SMTP password without TLS: set starttls=True or use_ssl=True", field="username"
            )
        if timeout <= 0:
            raise ValidationError("timeout must be positive", field="timeout")
        domain = message_id_domain or from_addr.rsplit("@", 1)[1].strip(" >")
        if not _SAFE_DOMAIN.match(domain):
            raise ValidationError("message_id_domain must be a plain domain name", field="message_id_domain")
        self.host = host.strip()
        self.port = port
        self.from_addr = from_addr
        self.username = username
        self._password = password
        self.starttls = starttls
        self.use_ssl = use_ssl
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.message_id_domain = domain
        self._conn: smtplib.SMTP | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"SmtpSender(host={self.host!r}, port={self.port!r}, starttls={self.starttls!r}, use_ssl={self.use_ssl!r})"
        )

    # -- connection -----------------------------------------------------------------------------

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context if self.ssl_context is not None else ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        conn: smtplib.SMTP
        if self.use_ssl:
            conn = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._context())
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            conn.ehlo()
            if self.starttls:
                if not conn.has_extn("starttls"):
                    raise DeliveryError("SMTP server does not offer STARTTLS, which is required", retryable=True)
                conn.starttls(context=self._context())
                conn.ehlo()
            if self.username:
                conn.login(self.username, self._password or "")
        except BaseException:
            _quietly_close(conn)
            raise
        return conn

    def _connection(self) -> smtplib.SMTP:
        """The open connection, checked with NOOP; a fresh one when it was dropped."""
        if self._conn is not None:
            try:
                code, _ = self._conn.noop()
                if code == 250:
                    return self._conn
            except (smtplib.SMTPException, OSError):
                pass
            _quietly_close(self._conn)
            self._conn = None
        self._conn = self._connect()
        return self._conn

    def close(self) -> None:
        """Close the SMTP connection (a later ``send`` opens a new one)."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.quit()
                except (smtplib.SMTPException, OSError):
                    pass
                _quietly_close(self._conn)
                self._conn = None

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- sending --------------------------------------------------------------------------------

    def build(self, message: OutboundMessage) -> EmailMessage:
        """The e-mail for ``message`` (headers, UTF-8 text body and its attachments as MIME parts), without sending it.

        Raises:
            DeliveryError: the message is not an e-mail (``retryable=False``).
        """
        if message.channel != "email":
            raise DeliveryError(
                f"SmtpSender delivers e-mail only, reminder {message.reminder_id} is {message.channel!r}",
                retryable=False,
            )
        mail = EmailMessage()
        mail["From"] = self.from_addr
        try:
            mail["To"] = message.to
            mail["Subject"] = message.subject or ""
        except (ValueError, IndexError):  # a line break or unparsable address: can never be sent
            raise DeliveryError(
                f"reminder {message.reminder_id} has an address or subject that is not a valid e-mail header",
                retryable=False,
            ) from None
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        mail["Message-ID"] = message_id_for(message.idempotency_key, self.message_id_domain)
        mail["X-Idempotency-Key"] = message.idempotency_key
        mail.set_content(message.body, charset="utf-8")
        for attachment in message.attachments:  # the text stays the first part; files follow (multipart/mixed)
            maintype, _, rest = attachment.content_type.partition("/")
            subtype, *params = (piece.strip() for piece in rest.split(";"))
            mail.add_attachment(
                attachment.data,
                maintype=maintype,
                subtype=subtype,
                filename=attachment.filename,
                params=dict(param.partition("=")[::2] for param in params if "=" in param),
            )
        mail["Content-Language"] = message.locale.replace("_", "-")  # after set_content, which clears Content-*
        return mail

    def send(self, message: OutboundMessage) -> str:
        """Send ``message`` as an e-mail; return its ``Message-ID`` (the provider id).

        Raises:
            DeliveryError: ``retryable=True`` for connection problems and ``4xx`` answers,
                ``retryable=False`` for ``5xx`` refusals and non-e-mail messages.
        """
        mail = self.build(message)
        message_id = str(mail["Message-ID"])
        with self._lock:
            try:
                conn = self._connection()
                conn.send_message(mail, from_addr=_envelope(self.from_addr), to_addrs=[message.to])
            except DeliveryError as exc:
                self._drop()
                self._log_failure(message, exc)
                raise
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [code for code, _ in exc.recipients.values()]
                code = codes[0] if codes else 0
                err = DeliveryError(
                    f"SMTP server refused the recipient ({code})", retryable=not 500 <= code < 600, code=code
                )
                self._reset()
                self._log_failure(message, err)
                raise err from None
            except smtplib.SMTPAuthenticationError as exc:
                err = DeliveryError(
                    f"SMTP login refused ({exc.smtp_code}); check the credentials", retryable=True, code=exc.smtp_code
                )
                self._drop()
                self._log_failure(message, err)
                raise err from None
            except (smtplib.SMTPConnectError, smtplib.SMTPHeloError) as exc:  # the server, not this message
                err = DeliveryError(
                    f"SMTP server refused the session ({exc.smtp_code})", retryable=True, code=exc.smtp_code
                )
                self._drop()
                self._log_failure(message, err)
                raise err from None
            except smtplib.SMTPResponseException as exc:  # sender refused, data refused, …
                code = int(exc.smtp_code)
                what = type(exc).__name__
                err = DeliveryError(f"SMTP server answered {code} ({what})", retryable=not 500 <= code < 600, code=code)
                self._reset()
                self._log_failure(message, err)
                raise err from None
            except smtplib.SMTPNotSupportedError:
                err = DeliveryError("SMTP server does not support a required extension", retryable=True)
                self._drop()
                self._log_failure(message, err)
                raise err from None
            except (smtplib.SMTPException, OSError) as exc:  # disconnects, refused connections, time-outs, TLS
                err = DeliveryError(f"SMTP connection failed ({type(exc).__name__})", retryable=True)
                self._drop()
                self._log_failure(message, err)
                raise err from None
        log.info(
            "smtp sent reminder_id=%s idempotency_key=%s status=sent", message.reminder_id, message.idempotency_key
        )
        return message_id

    def _reset(self) -> None:
        """After a refused transaction: RSET so the connection can be reused, else drop it."""
        if self._conn is None:
            return
        try:
            self._conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            _quietly_close(self._conn)
            self._conn = None

    @staticmethod
    def _log_failure(message: OutboundMessage, err: DeliveryError) -> None:
        log.warning(
            "smtp failed reminder_id=%s idempotency_key=%s status=%s error=%s",
            message.reminder_id,
            message.idempotency_key,
            "retryable" if err.retryable else "permanent",
            err,
        )


def _envelope(address: str) -> str:
    """The bare address of a ``From`` value such as ``"Clinic <no-reply@example.com>"``."""
    if "<" in address and address.rstrip().endswith(">"):
        return address[address.index("<") + 1 : address.rstrip().rindex(">")].strip()
    return address.strip()


def _quietly_close(conn: smtplib.SMTP) -> None:
    try:
        conn.close()
    except OSError:
        pass
