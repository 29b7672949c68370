"""Senders that deliver nowhere real: a file outbox for demos, the console, and a null sender.

* :class:`OutboxFile` is the file machinery (shared with the outbox publisher).
* :class:`OutboxSender` writes every message to a JSON-lines file (one object per line, appended
  atomically, safe with several dispatcher processes) or — when given a directory — to one
  ``<idempotency_key>.json`` file per message, so a message handed over twice is written once.
* :class:`ConsoleSender` prints each message (address masked) for a quick look.
* :class:`NullSender` accepts everything and keeps nothing (benchmarks, dry runs).

The outbox *is* the delivered message, so it holds the address and the text (and attachments, base64,
under ``"attachments"`` when a message has any); its log lines do not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from clinic_crm.errors import DeliveryError, ValidationError
from clinic_crm.messaging.message import OutboundMessage

__all__ = ["OutboxFile", "OutboxSender", "ConsoleSender", "NullSender", "read_outbox", "mask_address"]

log = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$")


def _record(message: OutboundMessage, provider_id: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "provider_id": provider_id,
        "idempotency_key": message.idempotency_key,
        "reminder_id": message.reminder_id,
        "patient_id": message.patient_id,
        "channel": message.channel,
        "to": message.to,
        "subject": message.subject,
        "body": message.body,
        "locale": message.locale,
        "written_at": datetime.now(UTC).isoformat(),
    }
    if message.attachments:  # written whole (base64), so the outbox keeps what a provider would get
        record["attachments"] = [
            {"filename": a.filename, "content_type": a.content_type, "data": base64.b64encode(a.data).decode("ascii")}
            for a in message.attachments
        ]
    return record


class OutboxFile:
    """Where an outbox writes: lines appended to a JSON-lines file, or one JSON file per key in a directory.

    Appends are atomic and whole (``O_APPEND`` under an exclusive ``flock``), so several processes may share one
    file; a directory gets ``<key>.json`` written through a temporary file and ``os.replace``, so an item handed
    over twice is written once.  Used by :class:`OutboxSender` and the outbox publisher.

    Args:
        path: a file (created with its parent folders; lines are appended) or a directory (an existing one,
            or a path ending in ``/``) for one file per item, named ``<key>.json`` (the key's SHA-256 when it
            is not a plain file name).

    Raises:
        ValidationError: ``path`` is empty.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        raw = os.fspath(path)
        if not raw:
            raise ValidationError("outbox path is required", field="path")
        self.path = Path(raw)
        self.per_item = self.path.is_dir() or raw.endswith(("/", os.sep))
        self._lock = threading.Lock()

    def write(self, key: str, data: str) -> None:
        """Write one JSON document ``data`` (one line, no newline) for the item ``key``.

        Raises:
            OSError: the file or directory cannot be written.
        """
        if self.per_item:
            self._write_file(key, data)
        else:
            self._append(data)

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = (line + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                _lock_fd(fd)
                written = 0
                while written < len(payload):  # one write in practice; O_APPEND + lock keep lines whole
                    written += os.write(fd, payload[written:])
            finally:
                os.close(fd)

    def _write_file(self, key: str, data: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        name = key if _SAFE_NAME.match(key) else hashlib.sha256(key.encode("utf-8")).hexdigest()
        target = self.path / f"{name}.json"
        temporary = self.path / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        temporary.write_text(data + "\n", encoding="utf-8")
        os.replace(temporary, target)


class OutboxSender:
    """Writes messages to a JSON-lines file, or one JSON file per message in a directory.

    Example::

        sender = OutboxSender("outbox.jsonl")
        crm.reminders.dispatch(sender)
        for record in read_outbox("outbox.jsonl"):
            print(record["reminder_id"], record["body"])

    Args:
        path: a file (created with its parent folders; lines are appended) or a directory
            (an existing one, or a path ending in ``/``) for one file per message, named
            ``<idempotency_key>.json`` (the key's SHA-256 when it is not a plain file name).

    Raises:
        ValidationError: ``path`` is empty.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._file = OutboxFile(path)
        self.path = self._file.path
        self.per_message = self._file.per_item

    def __repr__(self) -> str:
        return f"OutboxSender(path={str(self.path)!r}, per_message={self.per_message!r})"

    def send(self, message: OutboundMessage) -> str:
        """Write ``message`` to the outbox; return ``"outbox:<idempotency_key>"``.

        Raises:
            DeliveryError: the outbox cannot be written (``retryable=True``).
        """
        provider_id = f"outbox:{message.idempotency_key}"
        data = json.dumps(_record(message, provider_id), ensure_ascii=False, sort_keys=True)
        try:
            self._file.write(message.idempotency_key, data)
        except OSError as exc:
            log.warning(
                "outbox failed reminder_id=%s idempotency_key=%s status=retryable error=%s",
                message.reminder_id,
                message.idempotency_key,
                type(exc).__name__,
            )
            raise DeliveryError(f"outbox cannot be written ({type(exc).__name__})", retryable=True) from None
        log.info(
            "outbox wrote reminder_id=%s idempotency_key=%s status=sent", message.reminder_id, message.idempotency_key
        )
        return provider_id


def _lock_fd(fd: int) -> None:
    """Take an exclusive advisory lock on ``fd`` where the platform has one (released on close)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: O_APPEND alone
        return
    fcntl.flock(fd, fcntl.LOCK_EX)


def read_outbox(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The records an :class:`OutboxSender` or an outbox publisher wrote to ``path`` (JSON-lines file or directory).

    Raises:
        FileNotFoundError: nothing was written there yet.
    """
    target = Path(path)
    if target.is_dir():
        for item in sorted(target.glob("*.json")):
            yield json.loads(item.read_text(encoding="utf-8"))
        return
    with target.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def mask_address(address: str) -> str:
    """An address with its middle hidden (``+8869******78``, ``w***@example.com``), for screens and logs."""
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    if len(address) <= 6:
        return "*" * len(address)
    return address[:5] + "*" * (len(address) - 7) + address[-2:]


class ConsoleSender:
    """Prints each message to a stream (default: standard output), with the address masked.

    Args:
        stream: where to print (default ``sys.stdout`` at the time of sending).
        show_body: print the text too (default ``True``; turn off on shared screens).
    """

    def __init__(self, stream: TextIO | None = None, *, show_body: bool = True) -> None:
        self.stream = stream
        self.show_body = show_body
        self._lock = threading.Lock()

    def send(self, message: OutboundMessage) -> str:
        """Print ``message``; return ``"console:<idempotency_key>"``."""
        out = self.stream if self.stream is not None else sys.stdout
        lines = [
            f"--- reminder {message.reminder_id} ({message.channel}, {message.locale}) to {mask_address(message.to)}"
        ]
        if message.subject:
            lines.append(f"Subject: {message.subject}")
        if self.show_body:
            lines.append(message.body)
        with self._lock:
            print("\n".join(lines), file=out, flush=True)
        return f"console:{message.idempotency_key}"


class NullSender:
    """Accepts every message and delivers nothing; counts what it was given.

    Attributes:
        count: how many messages this instance accepted.
    """

    def __init__(self) -> None:
        self.count = 0

    def send(self, message: OutboundMessage) -> str:
        """Accept ``message``; return ``"null:<idempotency_key>"``."""
        self.count += 1
        return f"null:{message.idempotency_key}"
