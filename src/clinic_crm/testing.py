"""Public test doubles and factories for systems that build on clinic_crm.

Example::

    from clinic_crm.testing import RecordingSender, make_clinic, make_patient

    sender = RecordingSender()
    clinic = make_clinic(crm)
    patient = make_patient(crm, clinic.id)
    crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=now)
    crm.reminders.dispatch(sender, now=now)
    assert sender.messages[0].to == patient.phone

Hypothesis strategies for the values clinic_crm accepts live in :func:`strategies` (imported lazily,
so Hypothesis is needed only by the tests that use them).
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from clinic_crm.errors import DeliveryError
from clinic_crm.messaging.message import OutboundMessage
from clinic_crm.messaging.post import PublicPost

if TYPE_CHECKING:
    from clinic_crm.crm import Scope
    from clinic_crm.models import Clinic, Patient, Visit

__all__ = [
    "throwaway_postgres",
    "RecordingSender",
    "FailingSender",
    "RecordingPublisher",
    "FailingPublisher",
    "make_clinic",
    "make_patient",
    "complete_visit",
    "strategies",
]


class RecordingSender:
    """A sender that accepts every message and keeps it (thread-safe).

    Attributes:
        messages: every ``OutboundMessage`` handed over, in order.
    """

    def __init__(self, *, prefix: str = "rec") -> None:
        self.messages: list[OutboundMessage] = []
        self._prefix = prefix
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def send(self, message: OutboundMessage) -> str:
        """Record ``message`` and return a provider id ``"<prefix>-<n>"``."""
        with self._lock:
            self.messages.append(message)
            return f"{self._prefix}-{next(self._ids)}"

    def to(self, address: str) -> list[OutboundMessage]:
        """The messages sent to one phone number or e-mail address."""
        with self._lock:
            return [m for m in self.messages if m.to == address]

    def for_reminder(self, reminder_id: int) -> list[OutboundMessage]:
        """The messages that delivered one reminder (more than one means it was sent twice)."""
        with self._lock:
            return [m for m in self.messages if m.reminder_id == reminder_id]

    def clear(self) -> None:
        """Forget the recorded messages."""
        with self._lock:
            self.messages.clear()


class FailingSender:
    """A sender that raises ``DeliveryError(retryable=...)`` for its first ``times`` calls, then delegates.

    Args:
        times: how many calls fail (``None``: every call).
        retryable: the ``retryable`` flag of the raised errors.
        then: the sender used after the failures (a new :class:`RecordingSender` by default).
        error: raise this exception instead of a ``DeliveryError`` (to test a broken sender).

    Attributes:
        calls: every message handed over, failed or not.
        failures: how many calls raised.
    """

    def __init__(
        self,
        times: int | None = 1,
        *,
        retryable: bool = True,
        then: Any = None,
        error: Callable[[], BaseException] | None = None,
    ) -> None:
        self.times = times
        self.retryable = retryable
        self.then: Any = then if then is not None else RecordingSender()
        self.error = error
        self.calls: list[OutboundMessage] = []
        self.failures = 0
        self._lock = threading.Lock()

    def send(self, message: OutboundMessage) -> str:
        """Fail while failures remain, else hand the message to ``then``."""
        with self._lock:
            self.calls.append(message)
            failing = self.times is None or self.failures < self.times
            if failing:
                self.failures += 1
        if failing:
            if self.error is not None:
                raise self.error()
            raise DeliveryError("provider unavailable (test double)", retryable=self.retryable)
        return str(self.then.send(message))


class RecordingPublisher:
    """A publisher that accepts every post and keeps it (thread-safe).

    Attributes:
        posts: every ``PublicPost`` handed over, in order.
    """

    def __init__(self, *, prefix: str = "post") -> None:
        self.posts: list[PublicPost] = []
        self._prefix = prefix
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def publish(self, post: PublicPost) -> str:
        """Record ``post`` and return a channel post id ``"<prefix>-<n>"``."""
        with self._lock:
            self.posts.append(post)
            return f"{self._prefix}-{next(self._ids)}"

    def on(self, channel: str) -> list[PublicPost]:
        """The posts published on one channel."""
        with self._lock:
            return [p for p in self.posts if p.channel == channel]


class FailingPublisher:
    """A publisher that raises ``DeliveryError(retryable=...)`` for its first ``times`` calls, then delegates.

    Args:
        times: how many calls fail (``None``: every call).
        retryable: the ``retryable`` flag of the raised errors.
        then: the publisher used after the failures (a new :class:`RecordingPublisher` by default).

    Attributes:
        calls: every post handed over, failed or not.
        failures: how many calls raised.
    """

    def __init__(self, times: int | None = 1, *, retryable: bool = True, then: Any = None) -> None:
        self.times = times
        self.retryable = retryable
        self.then: Any = then if then is not None else RecordingPublisher()
        self.calls: list[PublicPost] = []
        self.failures = 0
        self._lock = threading.Lock()

    def publish(self, post: PublicPost) -> str:
        """Fail while failures remain, else hand the post to ``then``."""
        with self._lock:
            self.calls.append(post)
            failing = self.times is None or self.failures < self.times
            if failing:
                self.failures += 1
        if failing:
            raise DeliveryError("channel unavailable (test double)", retryable=self.retryable)
        return str(self.then.publish(post))


_counter = itertools.count(1)


def make_clinic(crm: Scope, **overrides: Any) -> Clinic:
    """Create a clinic with sensible defaults (Taipei, ``zh_TW``, region TW, quiet 21:00–08:00)."""
    fields: dict[str, Any] = {
        "timezone": "Asia/Taipei",
        "locale": "zh_TW",
        "region": "TW",
        "quiet_hours": (time(21), time(8)),
    }
    fields.update(overrides)
    name = fields.pop("name", f"Test Clinic {next(_counter)}")
    return crm.clinics.create(name, **fields)


def make_patient(crm: Scope, clinic_id: int, **overrides: Any) -> Patient:
    """Register a patient with a unique Taiwanese mobile number and e-mail unless overridden."""
    n = next(_counter)
    fields: dict[str, Any] = {
        "family_name": "Wang",
        "given_name": f"Ming{n}",
        "phone": f"+8869{n % 100_000_000:08d}",
        "email": f"patient{n}@example.com",
    }
    fields.update(overrides)
    return crm.patients.register(clinic_id, **fields)


def complete_visit(
    crm: Scope, patient_id: int, done: datetime, *, kind: str = "checkup", practitioner: str | None = "Dr. Lin"
) -> Visit:
    """Book a visit 40 minutes before ``done``, check the patient in 10 minutes later and complete it at ``done``."""
    visit = crm.visits.book(patient_id, starts_at=done - timedelta(minutes=40), kind=kind, practitioner=practitioner)
    assert visit.id is not None
    crm.visits.check_in(visit.id, at=done - timedelta(minutes=30))
    return crm.visits.complete(visit.id, at=done)


def strategies() -> SimpleNamespace:
    """Hypothesis strategies: ``timezones``, ``locales``, ``wall_times``, ``quiet_hours``, ``birth_dates``.

    Raises:
        ImportError: Hypothesis is not installed.
    """
    from hypothesis import strategies as st

    from clinic_crm.values import _zones

    zones = sorted(z for z in _zones() if "/" in z and not z.startswith(("Etc/", "SystemV/", "posix/", "right/")))
    wall_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
    return SimpleNamespace(
        timezones=st.sampled_from(zones),
        locales=st.sampled_from(["en", "en_US", "en_GB", "zh_TW", "zh_Hant_TW", "ja_JP", "de_DE"]),
        wall_times=wall_times,
        quiet_hours=st.tuples(wall_times, wall_times),
        birth_dates=st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 12, 31)),
    )


@contextmanager
def throwaway_postgres(admin_url: str, *, prefix: str = "clinic_crm_tmp") -> Iterator[str]:
    """Create an empty PostgreSQL database for a test run or benchmark, yield its URL, then drop it.

    Args:
        admin_url: a URL of the server with a user allowed to ``CREATE DATABASE``
            (``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``).
        prefix: the start of the database's name; a random suffix keeps concurrent runs apart.

    Raises:
        sqlalchemy.exc.OperationalError: no server answers (raised on entering, nothing created).
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
