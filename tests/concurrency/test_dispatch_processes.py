"""Several dispatcher processes on one database (SQLite file and PostgreSQL), crashes and stale leases.

Each worker is a real process (``_worker.py``) whose sender writes every message it is handed to
its own file before returning, so the files are the ground truth of what reached a "provider".
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter

import pytest

from clinic_crm import ClinicCRM

from .conftest import LEASE, T1, Workers, finish, records, rows, seed, wait_until

pytestmark = pytest.mark.slow

PAST_LEASE = T1 + LEASE + LEASE / 10


def test_four_processes_send_each_of_2000_reminders_exactly_once(crm: ClinicCRM, db_url: str, workers: Workers) -> None:
    ids = seed(crm, 2000, due=T1 - LEASE)
    names = [f"w{i}" for i in range(4)]
    go = workers.folder / "go"
    for name in names:
        workers.start(db_url, name, now=T1, ready=workers.folder / f"{name}.ready", go=go)
    wait_until(lambda: all((workers.folder / f"{n}.ready").exists() for n in names), what="workers ready")
    go.touch()
    reports = [json.loads(finish(proc)) for proc in workers.procs]

    handed = [rec for name in names for rec in records(workers.out(name))]
    per_id = Counter(rid for rid, _ in handed)
    assert sorted(per_id) == sorted(ids)
    assert max(per_id.values()) == 1, "a reminder was handed to a sender twice"
    state = rows(crm)
    assert {r.status for r in state.values()} == {"sent"}
    for name in names:  # the provider id recorded is that of the one process that sent it, same key
        for rid, key in records(workers.out(name)):
            assert state[rid].idempotency_key == key
            assert state[rid].provider_id == f"{name}:{key}"
    assert sum(r["sent"] for r in reports) == 2000
    assert sum(r["failed"] for r in reports) == 0
    assert sum(1 for r in reports if r["sent"]) >= 2, f"only one process did any work: {reports}"


def test_kill_9_mid_batch_loses_nothing_and_repeats_only_the_in_flight_message(
    crm: ClinicCRM, db_url: str, workers: Workers
) -> None:
    ids = seed(crm, 300, due=T1 - LEASE)
    victim = workers.start(db_url, "victim", now=T1, block_after=40)
    wait_until(lambda: len(records(workers.out("victim"))) == 41, what="victim blocked in its 41st send")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(30)
    assert victim.returncode == -signal.SIGKILL
    in_flight = records(workers.out("victim"))[-1]

    # before the lease ends, another dispatcher leaves the victim's claimed reminders alone
    early = json.loads(finish(workers.start(db_url, "early", now=T1)))
    early_ids = {rid for rid, _ in records(workers.out("early"))}
    victim_ids = {rid for rid, _ in records(workers.out("victim"))}
    assert not early_ids & victim_ids
    state = rows(crm)
    still_claimed = {rid for rid, row in state.items() if row.status == "sending"}
    assert in_flight[0] in still_claimed
    assert early["sent"] == len(early_ids) > 0

    # after the lease, the rest is taken over
    late = json.loads(finish(workers.start(db_url, "late", now=PAST_LEASE)))
    late_records = records(workers.out("late"))
    assert {rid for rid, _ in late_records} == still_claimed
    assert late["sent"] == len(still_claimed)

    every = records(workers.out("victim")) + records(workers.out("early")) + late_records
    repeated = [rid for rid, n in Counter(rid for rid, _ in every).items() if n > 1]
    assert repeated == [in_flight[0]], "exactly the one in-flight message is repeated"
    assert {key for rid, key in every if rid == in_flight[0]} == {in_flight[1]}, "with the same idempotency key"
    state = rows(crm)
    assert sorted(state) == sorted(ids)
    assert {r.status for r in state.values()} == {"sent"}


def _stale_scenario(crm: ClinicCRM, db_url: str, workers: Workers) -> tuple[dict[str, int], dict[int, object]]:
    """A dispatcher blocks in its first send past its lease; another takes all 5 reminders over and sends them;
    then the stale one's provider call returns.  Returns the stale one's report and the rows before it woke."""
    seed(crm, 5, due=T1 - LEASE)
    release = workers.folder / "release"
    stale = workers.start(db_url, "stale", now=T1, block_after=0, release=release)
    wait_until(lambda: len(records(workers.out("stale"))) == 1, what="stale dispatcher blocked in its first send")

    newer = json.loads(finish(workers.start(db_url, "newer", now=PAST_LEASE)))
    assert newer["sent"] == 5
    before = rows(crm)
    assert {r.status for r in before.values()} == {"sent"}
    assert all(r.provider_id == f"newer:{r.idempotency_key}" for r in before.values())

    release.touch()  # the stale dispatcher's provider call returns now, long after its lease ended
    return json.loads(finish(stale)), dict(before)


def test_stale_dispatcher_cannot_overwrite_the_newer_outcome(crm: ClinicCRM, db_url: str, workers: Workers) -> None:
    stale_report, before = _stale_scenario(crm, db_url, workers)
    assert rows(crm) == before, "the stale dispatcher overwrote a newer outcome"
    assert stale_report["sent"] == 0
    assert stale_report["fenced"] >= 1


def test_stale_dispatcher_sends_nothing_after_losing_its_lease(crm: ClinicCRM, db_url: str, workers: Workers) -> None:
    """Contract: "each reminder is ... handed to a sender once"; a dispatcher repeats at most its in-flight message.

    The stale dispatcher still holds 4 more reminders of its claimed batch in memory; they were taken over
    (and sent) by the newer dispatcher, so it must check its claim before each send and skip them.
    (The engine renews its claim, fenced by the token, right before each send and skips what it lost.)
    """
    _stale_scenario(crm, db_url, workers)
    handed = records(workers.out("stale"))
    assert len(handed) == 1, f"stale dispatcher handed {len(handed)} messages to its sender after losing its lease"
