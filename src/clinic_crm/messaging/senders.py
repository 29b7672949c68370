"""Choose and configure a sender from environment variables (for reminder scripts and the CLI).

=============================  ==================================================================
variable                       meaning
=============================  ==================================================================
``CLINIC_CRM_SENDER``          ``outbox`` (default), ``smtp``, ``http-sms``, ``null``, ``console``,
                               or several joined by ``,`` (``smtp,http-sms``): each message goes to
                               the first one that handles its channel
``CLINIC_CRM_OUTBOX``          outbox file (``.jsonl``) or directory; default ``outbox.jsonl``
``CLINIC_CRM_SMTP_HOST``       SMTP server (required for ``smtp``)
``CLINIC_CRM_SMTP_PORT``       default 587 with STARTTLS, 465 with SSL, else 25
``CLINIC_CRM_SMTP_USER``       login user (optional)
``CLINIC_CRM_SMTP_PASSWORD``   login password
``CLINIC_CRM_SMTP_FROM``       ``From`` address (required for ``smtp``)
``CLINIC_CRM_SMTP_STARTTLS``   ``1`` (default) or ``0``
``CLINIC_CRM_SMTP_SSL``        ``1`` for implicit TLS (port 465); default ``0``
``CLINIC_CRM_SMTP_TIMEOUT``    seconds, default 30
``CLINIC_CRM_SMS_URL``         gateway endpoint (required for ``http-sms``)
``CLINIC_CRM_SMS_TOKEN``       bearer token (optional)
``CLINIC_CRM_SMS_TIMEOUT``     seconds, default 10
=============================  ==================================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from clinic_crm.errors import DeliveryError, ValidationError
from clinic_crm.messaging.http_sms import HttpSmsSender
from clinic_crm.messaging.message import OutboundMessage, Sender
from clinic_crm.messaging.outbox import ConsoleSender, NullSender, OutboxSender
from clinic_crm.messaging.smtp import SmtpSender

__all__ = ["SENDER_NAMES", "ChannelRouter", "sender_from_env", "close_sender"]

#: The sender names ``CLINIC_CRM_SENDER`` and ``clinic-crm reminders dispatch --sender`` accept.
SENDER_NAMES = ("outbox", "smtp", "http-sms", "null", "console")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ChannelRouter:
    """Hands each message to the sender registered for its channel.

    Example::

        sender = ChannelRouter({"email": SmtpSender(...), "sms": HttpSmsSender(...)})

    Args:
        routes: channel (``"sms"``, ``"email"``) -> sender.

    Raises:
        ValidationError: ``routes`` is empty.
    """

    def __init__(self, routes: Mapping[str, Sender]) -> None:
        if not routes:
            raise ValidationError("a ChannelRouter needs at least one channel", field="routes")
        self.routes = dict(routes)

    def __repr__(self) -> str:
        return f"ChannelRouter({self.routes!r})"

    def send(self, message: OutboundMessage) -> str:
        """Send ``message`` with its channel's sender.

        Raises:
            DeliveryError: no sender for the channel (``retryable=False``), or what that sender raised.
        """
        sender = self.routes.get(message.channel)
        if sender is None:
            raise DeliveryError(
                f"no sender configured for channel {message.channel!r} (reminder {message.reminder_id})",
                retryable=False,
            )
        return sender.send(message)

    def close(self) -> None:
        """Close every routed sender that can be closed."""
        for sender in {id(s): s for s in self.routes.values()}.values():
            close_sender(sender)


def close_sender(sender: object) -> None:
    """Call ``sender.close()`` when the sender has one (SMTP keeps a connection open)."""
    close = getattr(sender, "close", None)
    if callable(close):
        close()


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValidationError(f"{name} must be 1 or 0", field=name)


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a number", field=name) from None
    if value <= 0:
        raise ValidationError(f"{name} must be positive", field=name)
    return value


def _required(env: Mapping[str, str], name: str, for_sender: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ValidationError(f"{name} is required for the {for_sender!r} sender", field=name)
    return value


def _smtp(env: Mapping[str, str]) -> SmtpSender:
    use_ssl = _flag(env, "CLINIC_CRM_SMTP_SSL", False)
    starttls = _flag(env, "CLINIC_CRM_SMTP_STARTTLS", not use_ssl)
    if use_ssl and starttls:
        raise ValidationError(
            "set CLINIC_CRM_SMTP_STARTTLS=0 when CLINIC_CRM_SMTP_SSL=1", field="CLINIC_CRM_SMTP_STARTTLS"
        )
    default_port = 465 if use_ssl else 587 if starttls else 25
    port = int(_number(env, "CLINIC_CRM_SMTP_PORT", default_port))
    return SmtpSender(
        _required(env, "CLINIC_CRM_SMTP_HOST", "smtp"),
        port,
        from_addr=_required(env, "CLINIC_CRM_SMTP_FROM", "smtp"),
        username=env.get("CLINIC_CRM_SMTP_USER") or None,
        password=env.get("CLINIC_CRM_SMTP_PASSWORD") or None,
        starttls=starttls,
        use_ssl=use_ssl,
        timeout=_number(env, "CLINIC_CRM_SMTP_TIMEOUT", 30.0),
    )


def _one(name: str, env: Mapping[str, str]) -> Sender:
    if name == "outbox":
        return OutboxSender(env.get("CLINIC_CRM_OUTBOX", "").strip() or "outbox.jsonl")
    if name == "smtp":
        return _smtp(env)
    if name == "http-sms":
        return HttpSmsSender(
            _required(env, "CLINIC_CRM_SMS_URL", "http-sms"),
            token=env.get("CLINIC_CRM_SMS_TOKEN") or None,
            timeout=_number(env, "CLINIC_CRM_SMS_TIMEOUT", 10.0),
        )
    if name == "null":
        return NullSender()
    if name == "console":
        return ConsoleSender()
    raise ValidationError(f"unknown sender {name!r}; expected one of {', '.join(SENDER_NAMES)}", field="sender")


_CHANNELS: dict[str, Sequence[str]] = {
    "smtp": ("email",),
    "http-sms": ("sms",),
    "outbox": ("email", "sms"),
    "null": ("email", "sms"),
    "console": ("email", "sms"),
}


def sender_channels(name: str) -> frozenset[str]:
    """The channels (``"sms"``, ``"email"``) the senders named by ``name`` (comma-joined) can deliver.

    Raises:
        ValidationError: an unknown sender name.
    """
    names = [part.strip().lower() for part in name.split(",") if part.strip()]
    for part in names:
        if part not in SENDER_NAMES:
            raise ValidationError(f"unknown sender {part!r}; expected one of {', '.join(SENDER_NAMES)}", field="sender")
    return frozenset(channel for part in names for channel in _CHANNELS[part])


def sender_from_env(name: str | None = None, environ: Mapping[str, str] | None = None) -> Sender:
    """Build the sender named by ``name`` (or ``CLINIC_CRM_SENDER``), configured from the environment.

    Example::

        os.environ.update(CLINIC_CRM_SENDER="smtp", CLINIC_CRM_SMTP_HOST="smtp.example.com",
                          CLINIC_CRM_SMTP_FROM="no-reply@example.com")
        sender = sender_from_env()

    Args:
        name: ``outbox``, ``smtp``, ``http-sms``, ``null``, ``console`` or a comma-joined list of them
            (a :class:`ChannelRouter`, earlier names winning a channel); default ``$CLINIC_CRM_SENDER``
            or ``outbox``.
        environ: the variables to read (default ``os.environ``).

    Returns:
        A sender; call :func:`close_sender` on it when done.

    Raises:
        ValidationError: an unknown name or a missing/invalid variable (``field`` names it).
    """
    env = os.environ if environ is None else environ
    chosen = (name if name is not None else env.get("CLINIC_CRM_SENDER", "")).strip().lower() or "outbox"
    names = [part.strip() for part in chosen.split(",") if part.strip()]
    if not names:
        raise ValidationError("no sender named", field="sender")
    for part in names:
        if part not in SENDER_NAMES:
            raise ValidationError(f"unknown sender {part!r}; expected one of {', '.join(SENDER_NAMES)}", field="sender")
    if len(names) == 1:
        return _one(names[0], env)
    routes: dict[str, Sender] = {}
    for part in names:
        sender = _one(part, env)
        for channel in _CHANNELS[part]:
            routes.setdefault(channel, sender)
    return ChannelRouter(routes)
