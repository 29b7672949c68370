"""Two submits of one token at the same time: exactly one wins, the other gets TokenUsed (both databases)."""

from __future__ import annotations

import threading
from datetime import timedelta

from clinic_crm import ClinicCRM, Conflict, TokenUsed
from clinic_crm.models import Survey
from tests.conftest import T0, count_rows
from tests.services.surveys.conftest import VisitFactory

ROUNDS = 6


def test_concurrent_submits_of_one_token(
    crm: ClinicCRM, db_url: str, survey: Survey, completed_visit: VisitFactory
) -> None:
    assert survey.id is not None
    tokens = []
    for _ in range(ROUNDS):
        visit = completed_visit()
        assert visit.id is not None
        tokens.append(crm.surveys.invite(survey.id, visit_id=visit.id, at=T0).token)

    facades = [ClinicCRM(db_url), ClinicCRM(db_url)]
    try:
        for token in tokens:
            barrier = threading.Barrier(2)
            outcomes: list[str] = []
            lock = threading.Lock()

            def submit(
                facade: ClinicCRM,
                score: int,
                token: str = token,
                barrier: threading.Barrier = barrier,
                outcomes: list[str] = outcomes,
                lock: threading.Lock = lock,
            ) -> None:
                barrier.wait()
                try:
                    facade.surveys.submit(token, {"recommend": score, "overall": 4}, at=T0 + timedelta(hours=1))
                    result = f"won:{score}"
                except TokenUsed:
                    result = "TokenUsed"
                except Exception as exc:  # noqa: BLE001 - any other outcome fails the test below
                    result = f"error:{type(exc).__name__}"
                with lock:
                    outcomes.append(result)

            threads = [threading.Thread(target=submit, args=(f, s)) for f, s in zip(facades, (3, 10), strict=True)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            assert sorted(o.split(":")[0] for o in outcomes) == ["TokenUsed", "won"], outcomes
    finally:
        for facade in facades:
            facade.close()

    assert count_rows(crm, "response") == ROUNDS
    assert count_rows(crm, "answer") == 2 * ROUNDS
    with crm.engine.connect() as conn:
        detractor_wins = conn.exec_driver_sql(
            "SELECT count(*) FROM answer WHERE question_key = 'recommend' AND int_value = 3"
        ).scalar_one()
        used = conn.exec_driver_sql("SELECT count(*) FROM invitation WHERE used_at IS NOT NULL").scalar_one()
    # a follow-up exists for exactly the responses where the detractor won
    assert count_rows(crm, "follow_up") == detractor_wins
    assert used == ROUNDS


def test_loser_waiting_on_the_row_lock_gets_token_used(
    crm: ClinicCRM, db_url: str, survey: Survey, completed_visit: VisitFactory
) -> None:
    """Force the interleaving: A consumes the token but has not committed when B tries."""
    visit = completed_visit()
    assert survey.id is not None and visit.id is not None
    token = crm.surveys.invite(survey.id, visit_id=visit.id, at=T0).token
    other = ClinicCRM(db_url)
    try:
        outcome: list[str] = []
        with crm.transaction() as tx:
            tx.surveys.submit(token, {"recommend": 9, "overall": 5}, at=T0 + timedelta(hours=1))

            def late() -> None:
                try:
                    other.surveys.submit(token, {"recommend": 1, "overall": 1}, at=T0 + timedelta(hours=1))
                    outcome.append("won")
                except TokenUsed:
                    outcome.append("TokenUsed")

            thread = threading.Thread(target=late)
            thread.start()
            thread.join(timeout=0.5)  # B is blocked (row lock on PostgreSQL, write lock on SQLite)
            assert outcome == []
        thread.join(timeout=60)
        assert outcome == ["TokenUsed"]
    finally:
        other.close()
    assert count_rows(crm, "response") == 1 and count_rows(crm, "follow_up") == 0


def test_two_nightly_runs_at_once_invite_each_visit_once(
    crm: ClinicCRM, db_url: str, survey: Survey, completed_visit: VisitFactory
) -> None:
    assert survey.id is not None
    for hours in range(8):
        completed_visit(T0 + timedelta(hours=hours))
    facades = [ClinicCRM(db_url), ClinicCRM(db_url)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(facade: ClinicCRM) -> None:
        barrier.wait()
        try:
            count = facade.surveys.invite_completed(
                survey.id,  # type: ignore[arg-type]
                since=T0 - timedelta(days=1),
                until=T0 + timedelta(days=1),
                at=T0 + timedelta(days=1),
            )
            result = str(count)
        except Conflict:
            result = "Conflict"
        with lock:
            outcomes.append(result)

    try:
        threads = [threading.Thread(target=run, args=(f,)) for f in facades]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        for facade in facades:
            facade.close()
    # one run invites all 8; the other either waited and found nobody left, or lost the race on the
    # unique (survey, visit) constraint and kept nothing
    assert sorted(outcomes) in (["0", "8"], ["8", "Conflict"]), outcomes
    assert count_rows(crm, "invitation") == 8 and count_rows(crm, "reminder") == 8
