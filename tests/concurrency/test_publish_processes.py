"""Several ``publish_due`` processes on one database (SQLite file and PostgreSQL), a killed publisher, leases.

Each worker is a real process (``_post_worker.py``) whose publisher writes every post it is handed to its own
file before returning, so the files are the ground truth of what reached a "channel".
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from clinic_crm import ClinicCRM

from .conftest import LEASE, T1, Workers, finish, records, wait_until

pytestmark = pytest.mark.slow

PAST_LEASE = T1 + LEASE + LEASE / 10


class PostWorkers(Workers):
    script = Path(__file__).with_name("_post_worker.py")


@pytest.fixture
def post_workers(workers: Workers) -> PostWorkers:
    """The worker launcher of ``conftest``, starting ``_post_worker.py`` (processes are killed after the test)."""
    workers.__class__ = PostWorkers
    return workers  # type: ignore[return-value]


def seed_posts(crm: ClinicCRM, n: int, *, due: datetime) -> list[int]:
    """``n`` posts due at ``due`` across two clinics; returns their ids."""
    clinics = [
        crm.clinics.create(f"Clinic {i}", timezone="Asia/Taipei", locale="zh_TW", region="TW").id for i in range(2)
    ]
    with crm.transaction() as tx:
        ids = [
            tx.posts.schedule(clinics[i % 2], channel="website", text=f"tip {i}", publish_at=due).id for i in range(n)
        ]
    return [int(i) for i in ids if i is not None]


def post_rows(crm: ClinicCRM) -> dict[int, tuple[str, str | None, str]]:
    """Every post's status, provider post id and idempotency key."""
    with crm.engine.connect() as conn:
        return {
            int(r[0]): (r[1], r[2], r[3])
            for r in conn.execute(text("SELECT id, status, provider_post_id, idempotency_key FROM post"))
        }


def test_four_processes_publish_each_post_exactly_once(crm: ClinicCRM, db_url: str, post_workers: PostWorkers) -> None:
    ids = seed_posts(crm, 400, due=T1 - LEASE)
    names = [f"w{i}" for i in range(4)]
    go = post_workers.folder / "go"
    for name in names:
        post_workers.start(db_url, name, now=T1, ready=post_workers.folder / f"{name}.ready", go=go, batch_size=5)
    wait_until(lambda: all((post_workers.folder / f"{n}.ready").exists() for n in names), what="workers ready")
    go.touch()
    reports = [json.loads(finish(proc)) for proc in post_workers.procs]

    handed = [rec for name in names for rec in records(post_workers.out(name))]
    per_id = Counter(pid for pid, _ in handed)
    assert sorted(per_id) == sorted(ids)
    assert max(per_id.values()) == 1, "a post was handed to a publisher twice"
    state = post_rows(crm)
    assert {status for status, _, _ in state.values()} == {"published"}
    for name in names:  # the channel id recorded is that of the one process that published it, same key
        for pid, key in records(post_workers.out(name)):
            assert state[pid][2] == key
            assert state[pid][1] == f"{name}:{key}"
    assert sum(r["published"] for r in reports) == 400
    assert sum(r["failed"] + r["fenced"] for r in reports) == 0
    assert sum(1 for r in reports if r["published"]) >= 2, f"only one process did any work: {reports}"


def test_kill_9_mid_publish_repeats_only_the_post_in_flight_with_the_same_key(
    crm: ClinicCRM, db_url: str, post_workers: PostWorkers
) -> None:
    ids = seed_posts(crm, 60, due=T1 - LEASE)
    victim = post_workers.start(db_url, "victim", now=T1, block_after=7, batch_size=20)
    wait_until(lambda: len(records(post_workers.out("victim"))) == 8, what="victim blocked in its 8th publish")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(30)
    assert victim.returncode == -signal.SIGKILL
    in_flight = records(post_workers.out("victim"))[-1]

    # before the lease ends, another publisher leaves the victim's claimed posts alone
    early = json.loads(finish(post_workers.start(db_url, "early", now=T1)))
    early_ids = {pid for pid, _ in records(post_workers.out("early"))}
    victim_ids = {pid for pid, _ in records(post_workers.out("victim"))}
    assert not early_ids & victim_ids
    still_claimed = {pid for pid, (status, _, _) in post_rows(crm).items() if status == "scheduled"}
    assert in_flight[0] in still_claimed and len(still_claimed) == 20 - 7
    assert early["published"] == len(early_ids) == 60 - 20

    # after the lease, the rest is taken over
    late = json.loads(finish(post_workers.start(db_url, "late", now=PAST_LEASE)))
    late_records = records(post_workers.out("late"))
    assert {pid for pid, _ in late_records} == still_claimed
    assert late["published"] == len(still_claimed)

    every = records(post_workers.out("victim")) + records(post_workers.out("early")) + late_records
    assert sorted({pid for pid, _ in every}) == sorted(ids)
    repeated = [pid for pid, n in Counter(pid for pid, _ in every).items() if n > 1]
    assert repeated == [in_flight[0]], "exactly the one post in flight is repeated"
    assert {key for pid, key in every if pid == in_flight[0]} == {in_flight[1]}, "with the same idempotency key"
    assert {status for status, _, _ in post_rows(crm).values()} == {"published"}
