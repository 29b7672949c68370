"""``check_spikes``, ``alerts``, ``dismiss`` and ``escalate_alert`` on both databases."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

import pytest

from clinic_crm import ClinicCRM, Conflict, NaiveDatetimeError, NotFound, ValidationError
from clinic_crm.services.reputation.alerts import escalate_alert
from tests.conftest import T0, count_rows
from tests.services.reputation.conftest import RowFactory, negatives


def test_no_history_needs_five_negatives_in_24_hours(crm: ClinicCRM, clinic_id: int) -> None:
    # λ = max(0/28, 0.5): P(X ≥ 4) = 0.0018, P(X ≥ 5) = 0.00017
    negatives(crm, clinic_id, [T0 - timedelta(hours=h) for h in (1, 2, 3, 4)])
    assert crm.reputation.check_spikes(clinic_id, now=T0) == []
    negatives(crm, clinic_id, [T0 - timedelta(hours=23, minutes=59)], prefix="fifth")
    (alert,) = crm.reputation.check_spikes(clinic_id, now=T0)
    assert (alert.kind, alert.status, alert.mention_id, alert.opened_at) == ("negative_spike", "open", None, T0)
    assert alert.detail.startswith("5 negative mentions")
    assert [a.id for a in crm.reputation.alerts(clinic_id)] == [alert.id]


def test_window_is_half_open(crm: ClinicCRM, clinic_id: int) -> None:
    inside = [T0 - timedelta(hours=24)] + [T0 - timedelta(hours=h) for h in (1, 2, 3)]
    negatives(crm, clinic_id, [*inside, T0, T0 + timedelta(hours=1)])  # posted at/after now: not counted
    assert crm.reputation.check_spikes(clinic_id, now=T0) == []
    negatives(crm, clinic_id, [T0 - timedelta(minutes=1)], prefix="more")
    assert len(crm.reputation.check_spikes(clinic_id, now=T0)) == 1


def test_positive_and_neutral_mentions_do_not_count(crm: ClinicCRM, clinic_id: int, row: RowFactory) -> None:
    rows = [row(posted_at=T0 - timedelta(hours=h), rating=r) for h in range(1, 10) for r in (3, 5)]
    crm.reputation.ingest(clinic_id, rows, now=T0)
    assert crm.reputation.check_spikes(clinic_id, now=T0) == []


def test_baseline_raises_the_bar(crm: ClinicCRM, clinic_id: int) -> None:
    # 2 negatives a day for the 28 days before: λ = 2, P(X ≥ 8) = 0.0011, P(X ≥ 9) = 0.00024
    history = [T0 - timedelta(days=d, hours=h) for d in range(1, 29) for h in (3, 9)]
    negatives(crm, clinic_id, history, prefix="hist")
    negatives(crm, clinic_id, [T0 - timedelta(hours=h) for h in range(1, 9)])
    assert crm.reputation.check_spikes(clinic_id, now=T0) == []
    negatives(crm, clinic_id, [T0 - timedelta(hours=20)], prefix="ninth")
    assert len(crm.reputation.check_spikes(clinic_id, now=T0)) == 1


def test_at_most_one_spike_alert_per_24_hours(crm: ClinicCRM, clinic_id: int) -> None:
    negatives(crm, clinic_id, [T0 - timedelta(minutes=m) for m in range(1, 40, 2)])
    assert len(crm.reputation.check_spikes(clinic_id, now=T0)) == 1
    assert crm.reputation.check_spikes(clinic_id, now=T0 + timedelta(hours=1)) == []
    (alert,) = crm.reputation.alerts(clinic_id)
    crm.reputation.dismiss(alert.id, at=T0, by="Mei", note="known issue")  # a dismissed one still counts
    assert crm.reputation.check_spikes(clinic_id, now=T0 + timedelta(hours=23)) == []
    later = T0 + timedelta(hours=24)
    negatives(crm, clinic_id, [later - timedelta(minutes=m) for m in range(1, 40, 2)], prefix="b")
    assert len(crm.reputation.check_spikes(clinic_id, now=later)) == 1
    assert count_rows(crm, "reputation_alert") == 2


def test_check_spikes_bad_input(crm: ClinicCRM, clinic_id: int) -> None:
    with pytest.raises(NaiveDatetimeError):
        crm.reputation.check_spikes(clinic_id, now=datetime(2026, 3, 2, 9))
    with pytest.raises(NotFound):
        crm.reputation.check_spikes(999, now=T0)


def test_dismiss_and_list(crm: ClinicCRM, clinic_id: int, row: RowFactory) -> None:
    crm.reputation.watch(clinic_id, keywords=["lin"], now=T0)
    crm.reputation.ingest(clinic_id, [row(text="Dr Lin"), row(text="lin again")], now=T0)
    first, second = crm.reputation.alerts(clinic_id)
    with pytest.raises(ValidationError) as err:
        crm.reputation.dismiss(first.id, at=T0, by="Mei", note=" ")
    assert err.value.field == "note"
    with pytest.raises(NaiveDatetimeError):
        crm.reputation.dismiss(first.id, at=datetime(2026, 3, 2), by="Mei", note="ok")
    done = crm.reputation.dismiss(first.id, at=T0, by="Mei", note="a fan")
    assert (done.status, done.dismissed_by, done.dismissed_at) == ("dismissed", "Mei", T0)
    with pytest.raises(Conflict):
        crm.reputation.dismiss(first.id, at=T0, by="Mei", note="again")
    with pytest.raises(NotFound):
        crm.reputation.dismiss(12345, at=T0, by="Mei", note="x")
    assert [a.id for a in crm.reputation.alerts(clinic_id)] == [second.id]
    assert {a.id for a in crm.reputation.alerts(clinic_id, open=False)} == {first.id, second.id}


def test_escalate_alert(crm: ClinicCRM, clinic_id: int, row: RowFactory) -> None:
    crm.reputation.watch(clinic_id, keywords=["lin"], now=T0)
    crm.reputation.ingest(clinic_id, [row(text="Dr Lin"), row(text="lin again")], now=T0)
    first, second = crm.reputation.alerts(clinic_id)
    with crm.engine.connect() as conn, _session(conn) as session:
        alert = escalate_alert(session, first.id, incident_id=7, at=T0)
        assert (alert.status, alert.incident_id, alert.escalated_at) == ("escalated", 7, T0)
        assert escalate_alert(session, first.id, incident_id=7, at=T0).status == "escalated"  # idempotent
        with pytest.raises(Conflict):
            escalate_alert(session, first.id, incident_id=8, at=T0)
        with pytest.raises(NotFound):
            escalate_alert(session, 999, incident_id=7, at=T0)
        with pytest.raises(ValidationError):
            escalate_alert(session, first.id, incident_id="7", at=T0)  # type: ignore[arg-type]
        session.commit()
    crm.reputation.dismiss(second.id, at=T0, by="Mei", note="fine")
    with crm.engine.connect() as conn, _session(conn) as session, pytest.raises(Conflict):
        escalate_alert(session, second.id, incident_id=7, at=T0)
    with pytest.raises(Conflict):
        crm.reputation.dismiss(first.id, at=T0, by="Mei", note="too late")
    assert sorted(a.status for a in crm.reputation.alerts(clinic_id, open=False)) == ["dismissed", "escalated"]


def _session(conn: object) -> object:
    from sqlalchemy.orm import Session

    return Session(bind=conn)  # type: ignore[arg-type]


def _poisson(rnd: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rnd.random()
        if p <= limit:
            return k
        k += 1


def test_replay_of_sixty_days_on_the_database(crm: ClinicCRM, clinic_id: int) -> None:
    """Daily checks over 60 days of Poisson(1) negatives: no false alarm, and the planted burst on its day."""
    rnd = random.Random(7)
    start = T0 - timedelta(days=60)
    times: list[datetime] = []
    for day in range(60):
        count = _poisson(rnd, 1.0) + (9 if day == 50 else 0)
        times += [start + timedelta(days=day, minutes=rnd.randrange(24 * 60)) for _ in range(count)]
    negatives(crm, clinic_id, times)
    checks = {day: crm.reputation.check_spikes(clinic_id, now=start + timedelta(days=day + 1)) for day in range(30, 60)}
    fired = [day for day, opened in checks.items() if opened]
    assert fired == [50]
