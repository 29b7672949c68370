"""The session-free list reads (``visits.history``, ``surveys.follow_ups``) answer exactly as the session path does.

A call of its own runs one statement on a pooled driver connection (``db/detached.whole_read``) and builds the
instances with a generated row builder; in ``crm.transaction()`` the ORM loads them, in ``crm.dry_run()`` the Core
path builds them.  All three must agree — values, order, time zones, a missing parent, an empty list — on both
databases.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, event, inspect, text

from clinic_crm import ClinicCRM, DatabaseUnavailable, NotFound
from clinic_crm.db.detached import supports_whole_read
from clinic_crm.models import Clinic, FollowUp, Visit
from clinic_crm.testing import complete_visit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
TAIPEI = ZoneInfo("Asia/Taipei")


def _dump(items: list[Any]) -> list[dict[str, Any]]:
    return [item.model_dump() for item in items]


def _three_ways(crm: ClinicCRM, read: str, *args: Any, **kwargs: Any) -> list[list[Any]]:
    """The same read on its own (no session), in a transaction (ORM) and in a dry run (Core rows)."""
    group, name = read.split(".")
    own = getattr(getattr(crm, group), name)(*args, **kwargs)
    with crm.transaction() as tx:
        shared = getattr(getattr(tx, group), name)(*args, **kwargs)
        dumped = _dump(shared)
    with crm.dry_run() as trial:
        dry = getattr(getattr(trial, group), name)(*args, **kwargs)
    assert _dump(own) == dumped == _dump(dry)
    return [own, shared, dry]


@pytest.fixture
def visits(crm: ClinicCRM, clinic: Clinic) -> tuple[int, list[Visit]]:
    """A patient with visits in every state, two of them starting at the same instant."""
    patient = crm.patients.register(clinic.id, family_name="Lin", given_name="Mei")
    booked = crm.visits.book(patient.id, starts_at=T0, kind="checkup", practitioner="Dr Lee")
    twin = crm.visits.book(patient.id, starts_at=T0.astimezone(TAIPEI), kind="cleaning")  # same instant
    done = complete_visit(crm, patient.id, T0 - timedelta(days=30))
    cancelled = crm.visits.book(patient.id, starts_at=T0 + timedelta(days=7, microseconds=1), kind="checkup")
    crm.visits.cancel(cancelled.id, at=T0, reason="moved away")
    missed = crm.visits.book(patient.id, starts_at=T0 - timedelta(days=1), kind="checkup")
    crm.visits.mark_no_show(missed.id, at=T0 - timedelta(hours=20))
    return patient.id, [booked, twin, done, cancelled, missed]


def test_history_agrees_on_every_path_newest_first_with_aware_utc_datetimes(
    crm: ClinicCRM, visits: tuple[int, list[Visit]]
) -> None:
    patient_id, (booked, twin, done, cancelled, missed) = visits
    own, _shared, _dry = _three_ways(crm, "visits.history", patient_id)
    # newest first; the two visits at the same instant by id, highest first
    assert [v.id for v in own] == [cancelled.id, twin.id, booked.id, missed.id, done.id]
    assert own[0].cancel_reason == "moved away" and own[0].starts_at == T0 + timedelta(days=7, microseconds=1)
    assert own[3].status == "no_show" and own[3].no_show_at == T0 - timedelta(hours=20)
    assert own[4].status == "completed" and own[4].completed_at is not None and own[4].checked_in_at is not None
    for visit in own:
        for value in visit.model_dump().values():
            if isinstance(value, datetime):
                assert value.tzinfo is UTC
        state = inspect(visit)
        assert state.detached and state.identity == (visit.id,) and not state.unloaded
        assert visit.__pydantic_fields_set__ == set() and visit.__pydantic_extra__ is None


def test_follow_ups_agree_on_every_path_soonest_due_first(crm: ClinicCRM, clinic: Clinic) -> None:
    survey = crm.surveys.create(clinic.id, name="after", questions=[{"key": "nps", "type": "nps", "text": "?"}])
    made = []
    for n, answered in enumerate([T0, T0, T0 - timedelta(days=7), T0 + timedelta(days=1)]):
        patient = crm.patients.register(clinic.id, family_name="Chen", given_name=f"P{n}")
        visit = complete_visit(crm, patient.id, answered - timedelta(hours=2))
        invitation = crm.surveys.invite(survey.id, visit_id=visit.id, at=answered - timedelta(hours=1))
        crm.surveys.submit(invitation.token, {"nps": 2}, at=answered)
        made.append(patient.id)
    everything, _, _ = _three_ways(crm, "surveys.follow_ups", clinic.id)
    assert [f.patient_id for f in everything] == [made[2], made[0], made[1], made[3]]  # due date, then id
    crm.surveys.close_follow_up(everything[0].id, note="called back", at=T0)
    now = everything[3].due_at  # the last one is due exactly now: not overdue yet
    overdue, _, _ = _three_ways(crm, "surveys.follow_ups", clinic.id, overdue=True, now=now.astimezone(TAIPEI))
    assert [f.id for f in overdue] == [everything[1].id, everything[2].id]  # the first one is closed
    assert all(isinstance(f, FollowUp) and f.due_at.tzinfo is UTC and f.closed_at is None for f in overdue)
    assert _dump(crm.surveys.follow_ups(clinic.id)) == _dump(everything[1:])


def test_a_missing_parent_and_an_empty_list_are_told_apart_on_every_path(crm: ClinicCRM, clinic: Clinic) -> None:
    patient = crm.patients.register(clinic.id, family_name="Lin", given_name="Mei")
    empty = crm.clinics.create("Empty", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    assert _three_ways(crm, "visits.history", patient.id) == [[], [], []]
    assert _three_ways(crm, "surveys.follow_ups", empty.id) == [[], [], []]
    assert _three_ways(crm, "surveys.follow_ups", empty.id, overdue=True, now=T0) == [[], [], []]
    for scope in (lambda: nullcontext(crm), crm.transaction, crm.dry_run):
        with scope() as s, pytest.raises(NotFound, match="^no patient with id 999999$"):
            s.visits.history(999_999)
        with scope() as s, pytest.raises(NotFound, match="^no clinic with id 999999$"):
            s.surveys.follow_ups(999_999, overdue=True, now=T0)
        with scope() as s, pytest.raises(NotFound, match="^no clinic with id 999999$"):
            s.surveys.follow_ups(999_999)


def test_own_calls_open_no_session_and_send_one_statement(crm: ClinicCRM, visits: tuple[int, list[Visit]]) -> None:
    patient_id, _ = visits
    statements: list[str] = []
    if crm.engine.dialect.name == "sqlite":  # see what reaches SQLite itself, below SQLAlchemy
        crm.engine.dispose()
        event.listen(crm.engine, "connect", lambda conn, _record: conn.set_trace_callback(statements.append))

    def no_session(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a session was opened")

    factory = crm._unit.factory  # noqa: SLF001 - the test replaces the session factory to prove it is not used
    crm._unit.factory = no_session  # type: ignore[assignment]  # noqa: SLF001
    try:
        assert len(crm.visits.history(patient_id)) == 5
        assert crm.surveys.follow_ups(1, overdue=True, now=T0) == []
    finally:
        crm._unit.factory = factory  # noqa: SLF001
    if crm.engine.dialect.name == "sqlite":
        reads = [s for s in statements if not s.startswith("PRAGMA")]
        assert len(reads) == 2 and all(s.lstrip().startswith("SELECT") for s in reads)  # no BEGIN, no COMMIT


def test_stored_texts_in_other_forms_read_as_the_column_type_reads_them(
    crm: ClinicCRM, visits: tuple[int, list[Visit]], backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite stores instants as text")
    patient_id, (booked, twin, done, _cancelled, missed) = visits
    with crm.engine.begin() as conn:  # texts another writer might have left: no fraction, a "T", a short fraction
        conn.execute(text("UPDATE visit SET created_at = '2026-03-01 08:00:00' WHERE id = :id"), {"id": booked.id})
        conn.execute(text("UPDATE visit SET created_at = '2026-03-01T08:00:00.5' WHERE id = :id"), {"id": twin.id})
        conn.execute(text("UPDATE visit SET checked_in_at = '2026-03-01 08:00:00.123' WHERE id = :id"), {"id": done.id})
        conn.execute(
            text("UPDATE visit SET no_show_at = 'not a time at all 00000000' WHERE id = :id"), {"id": missed.id}
        )
    with pytest.raises(ValueError):  # the column type itself rejects that text: so does the fast path
        crm.visits.history(patient_id)
    with crm.engine.begin() as conn:
        conn.execute(text("UPDATE visit SET no_show_at = NULL WHERE id = :id"), {"id": missed.id})
    own, _, _ = _three_ways(crm, "visits.history", patient_id)
    created = {v.id: v.created_at for v in own}
    assert created[booked.id] == datetime(2026, 3, 1, 8, tzinfo=UTC)


def test_a_host_engine_with_another_session_time_zone_still_reads_utc(
    db_url: str, backend: str, tmp_path: Path
) -> None:
    if backend != "postgres":
        pytest.skip("PostgreSQL's session time zone")
    engine = create_engine(db_url, connect_args={"options": "-c timezone=Asia/Taipei"})
    try:
        with ClinicCRM(engine) as crm:
            clinic = crm.clinics.create("Sunrise", timezone="Asia/Taipei", locale="zh_TW", region="TW")
            patient = crm.patients.register(clinic.id, family_name="Lin", given_name="Mei")
            crm.visits.book(patient.id, starts_at=T0, kind="checkup")
            (visit,) = crm.visits.history(patient.id)
            assert visit.starts_at == T0 and visit.starts_at.tzinfo is UTC and visit.created_at.tzinfo is UTC
    finally:
        engine.dispose()


def test_an_unmigrated_database_says_so(tmp_path: Path) -> None:
    with ClinicCRM(f"sqlite:///{tmp_path / 'empty.db'}") as crm:
        with pytest.raises(DatabaseUnavailable, match="migrate") as raised:
            crm.visits.history(1)
        assert raised.value.retryable is False
        with pytest.raises(DatabaseUnavailable, match="migrate"):
            crm.surveys.follow_ups(1)


def test_a_shared_in_memory_connection_keeps_the_session_path() -> None:
    """``sqlite://`` hands its one connection to every checkout: returning a session-free read's checkout would
    roll back a transaction still open on it, so reads there keep the session path (which refuses to nest)."""
    with ClinicCRM("sqlite://") as crm:
        crm.migrate()
        assert not supports_whole_read(crm.engine)
        clinic = crm.clinics.create("A", timezone="Asia/Taipei", locale="zh_TW", region="TW")
        patient = crm.patients.register(clinic.id, family_name="Lin", given_name="Mei")
        assert crm.visits.history(patient.id) == []
        with pytest.raises(DatabaseUnavailable), crm.transaction() as tx:
            tx.clinics.create("B", timezone="Asia/Taipei", locale="zh_TW", region="TW")
            crm.visits.history(patient.id)  # the facade, not tx: a second transaction on the same connection
        assert [c.name for c in crm.clinics.list()] == ["A"]  # nothing of the transaction half-kept
