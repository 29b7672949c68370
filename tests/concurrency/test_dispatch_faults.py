"""PostgreSQL connections killed mid-dispatch (``pg_terminate_backend``, the server keeps running).

The dispatcher's connections are killed from another connection while it works, as a server restart, a
fail-over or an administrator would.  The call must end in ``DatabaseUnavailable`` (typed, retryable), and
the next ``dispatch`` after "recovery" must send every remaining reminder exactly once: nothing lost, at most
the message in flight when the connection died repeated, with the same idempotency key.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from clinic_crm import ClinicCRM, DatabaseUnavailable
from clinic_crm.messaging.message import OutboundMessage
from clinic_crm.testing import RecordingSender

from .conftest import LEASE, T1, rows, seed

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# one name per test process: pytest-xdist runs these tests side by side, and a kill must reach only its own victim
VICTIM = f"clinic_crm_victim_{os.getpid()}"
KILL = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    f"WHERE application_name = '{VICTIM}' AND datname = current_database()"
)


def _victim_url(db_url: str) -> str:
    """The test database's URL, with an ``application_name`` that marks the connections to kill."""
    url = make_url(db_url)
    return url.set(query={**url.query, "application_name": VICTIM}).render_as_string(hide_password=False)


def _kill(db_url: str) -> int:
    """Terminate every backend of the victim facade (from a connection of its own); how many were killed."""
    admin = create_engine(db_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        return int(conn.execute(text(KILL)).scalar_one())


class KillingSender(RecordingSender):
    """Accepts every message; while handing over the ``kill_at``-th it kills the dispatcher's connections."""

    def __init__(self, db_url: str, kill_at: int) -> None:
        super().__init__(prefix="first")
        self.db_url = db_url
        self.kill_at = kill_at
        self.killed = 0

    def send(self, message: OutboundMessage) -> str:
        provider_id = super().send(message)
        if len(self.messages) == self.kill_at:
            self.killed = _kill(self.db_url)
        return provider_id


class SlowSender(RecordingSender):
    """A gateway that takes 5 ms per message, so a run lasts long enough for the killer thread to strike."""

    def send(self, message: OutboundMessage) -> str:
        time.sleep(0.005)
        return super().send(message)


def _assert_each_sent_once_but_the_in_flight(
    crm: ClinicCRM, ids: list[int], senders: list[RecordingSender], in_flight: set[int]
) -> None:
    handed = [m for sender in senders for m in sender.messages]
    per_id = Counter(m.reminder_id for m in handed)
    assert sorted(per_id) == sorted(ids), "a reminder was lost"
    repeated = {rid for rid, count in per_id.items() if count > 1}
    assert repeated <= in_flight and max(per_id.values()) <= 2, f"repeated beyond the in-flight ones: {repeated}"
    for rid in repeated:
        assert len({m.idempotency_key for m in handed if m.reminder_id == rid}) == 1
    state = rows(crm)
    assert {state[i].status for i in ids} == {"sent"}
    for message in handed:
        assert state[message.reminder_id].idempotency_key == message.idempotency_key


@pytest.mark.parametrize("backend", ["postgres"])  # pg_terminate_backend: PostgreSQL only
@pytest.mark.parametrize("kill_at", [1, 100, 101])
def test_connections_killed_mid_dispatch_end_typed_and_nothing_is_lost(
    crm: ClinicCRM, db_url: str, kill_at: int
) -> None:
    ids = seed(crm, 150, due=T1 - LEASE)
    first = KillingSender(db_url, kill_at)
    with ClinicCRM(_victim_url(db_url)) as victim:
        with pytest.raises(DatabaseUnavailable) as caught:
            victim.reminders.dispatch(first, now=T1, batch_size=100)
        assert caught.value.retryable
        assert first.killed >= 1 and len(first.messages) == kill_at  # it stopped at the first step after the kill
        assert "SELECT" not in str(caught.value) and "UPDATE" not in str(caught.value)  # no SQL echoed

        # "recovery": the same facade again (its pool reconnects); rows not reached were handed back at once
        after = RecordingSender(prefix="after")
        report = victim.reminders.dispatch(after, now=T1)
        assert report.sent >= len(ids) - kill_at - 1
        # a reminder whose outcome could not be recorded waits for its lease, then goes out with the same key
        victim.reminders.dispatch(after, now=T1 + LEASE)
    in_flight = {first.messages[-1].reminder_id}
    _assert_each_sent_once_but_the_in_flight(crm, ids, [first, after], in_flight)


@pytest.mark.parametrize("backend", ["postgres"])
def test_connections_killed_again_and_again_lose_nothing(crm: ClinicCRM, db_url: str) -> None:
    """A killer thread terminates the dispatcher's connections every 0.2 s while it retries after each error."""
    ids = seed(crm, 200, due=T1 - LEASE)
    stop = threading.Event()
    kills = 0

    def killer() -> None:
        nonlocal kills
        while not stop.wait(0.2):
            kills += _kill(db_url)

    senders: list[SlowSender] = []
    stopped: list[SlowSender] = []  # the runs a killed connection ended
    thread = threading.Thread(target=killer)
    thread.start()
    try:
        with ClinicCRM(_victim_url(db_url)) as victim:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                sender = SlowSender(prefix=f"run{len(senders)}")  # (a fast run could end before the first kill)
                senders.append(sender)
                try:
                    victim.reminders.dispatch(sender, now=T1, batch_size=20)
                except DatabaseUnavailable as exc:
                    assert exc.retryable
                    stopped.append(sender)
                    continue
                if sum(1 for r in rows(crm).values() if r.status == "sent") == len(ids):
                    break
            stop.set()
            thread.join()
            victim.reminders.dispatch(senders[-1], now=T1 + LEASE)  # in-flight ones whose outcome was lost
    finally:
        stop.set()
        thread.join()
    assert kills > 0 and stopped, (kills, len(stopped))
    in_flight = {s.messages[-1].reminder_id for s in stopped if s.messages}
    _assert_each_sent_once_but_the_in_flight(crm, ids, senders, in_flight)
