"""Read-only calls: a read transaction, audit events written after the read, nothing written after an error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, inspect

from clinic_crm import ClinicCRM, NotFound, ValidationError
from clinic_crm.models import Clinic
from tests.conftest import count_rows

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@contextmanager
def begins(crm: ClinicCRM) -> Iterator[list[str]]:
    """The BEGIN statements the library sends (SQLite opens its transactions explicitly)."""
    seen: list[str] = []

    def hook(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("BEGIN"):
            seen.append(statement)

    event.listen(crm.engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(crm.engine, "before_cursor_execute", hook)


@contextmanager
def commits(crm: ClinicCRM) -> Iterator[list[object]]:
    """One entry per transaction the library commits."""
    seen: list[object] = []

    def hook(conn: Any) -> None:
        seen.append(conn)

    event.listen(crm.engine, "commit", hook)
    try:
        yield seen
    finally:
        event.remove(crm.engine, "commit", hook)


def test_a_read_opens_a_deferred_transaction_and_an_audited_read_a_short_write_after_it(
    crm: ClinicCRM, clinic: Clinic
) -> None:
    patient = crm.patients.register(clinic.id, family_name="Lin", given_name="Mei")
    crm.visits.book(patient.id, starts_at=T0, kind="cleaning")
    with begins(crm) as seen:
        assert len(crm.visits.history(patient.id)) == 1
    assert seen == []  # one statement on the driver connection, outside any explicit transaction (see below)
    with begins(crm) as seen:
        assert crm.visits.stats(clinic.id, since=T0, until=T0.replace(day=3)).visits == 1
    if crm.engine.dialect.name == "sqlite":
        assert seen == ["BEGIN"]  # a read that runs in a session: a deferred BEGIN
    with begins(crm) as seen:
        assert crm.patients.get(patient.id).id == patient.id
    if crm.engine.dialect.name == "sqlite":
        assert seen == ["BEGIN", "BEGIN IMMEDIATE"]  # the read, then the audit event
    with commits(crm) as committed:
        assert crm.patients.find(clinic.id, name="lin")[0].id == patient.id
    # SQLite: the read's transaction, then the audit's (no write lock while reading); PostgreSQL: one COMMIT
    assert len(committed) == (2 if crm.engine.dialect.name == "sqlite" else 1)
    with begins(crm) as seen:
        crm.patients.update(patient.id, given_name="Meiling")
    if crm.engine.dialect.name == "sqlite":
        assert seen == ["BEGIN IMMEDIATE"]  # writes are unchanged
    assert [e.action for e in crm.audit.for_patient(patient.id)] == ["create", "read", "read", "update"]
    assert crm.audit.verify()


def test_a_failed_read_writes_nothing(crm: ClinicCRM, clinic: Clinic) -> None:
    crm.patients.register(clinic.id, family_name="Lin", given_name="Mei")
    before = count_rows(crm, "audit_event")
    with pytest.raises(NotFound):
        crm.patients.get(999_999)
    with pytest.raises(NotFound):
        crm.patients.find(999_999, name="Lin")
    with pytest.raises(ValidationError):
        crm.patients.find(clinic.id, name="\x00")
    with pytest.raises(NotFound):
        crm.visits.history(999_999)
    with pytest.raises(ValidationError):
        crm.visits.history("1")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        crm.surveys.follow_ups(999_999)
    assert count_rows(crm, "audit_event") == before


def test_empty_lists_still_tell_an_unknown_parent_from_an_empty_one(crm: ClinicCRM, clinic: Clinic) -> None:
    patient = crm.patients.register(clinic.id, family_name="Lin", given_name="Mei")
    assert crm.visits.history(patient.id) == []
    assert crm.surveys.follow_ups(clinic.id, overdue=True, now=T0) == []
    with pytest.raises(NotFound):
        crm.visits.history(2**40)  # outside the id range: NotFound without a query


def test_inside_a_transaction_audit_events_are_part_of_it(crm: ClinicCRM, clinic: Clinic) -> None:
    patient = crm.patients.register(clinic.id, family_name="Lin", given_name="Mei")
    before = count_rows(crm, "audit_event")
    with pytest.raises(RuntimeError), crm.transaction() as tx:
        assert [p.id for p in tx.patients.find(clinic.id, name="lin")] == [patient.id]
        tx.patients.get(patient.id)
        raise RuntimeError("the caller rolls back")
    assert count_rows(crm, "audit_event") == before
    with crm.transaction() as tx:
        tx.patients.get(patient.id)
    assert count_rows(crm, "audit_event") == before + 1
    assert crm.audit.verify()


def test_list_reads_hand_back_detached_instances_equal_to_what_a_transaction_loads(
    crm: ClinicCRM, clinic: Clinic
) -> None:
    patient = crm.patients.register(clinic.id, family_name="Lin", given_name="Mei")
    crm.patients.register(clinic.id, family_name="Lin", given_name="Wei")
    for day in (1, 2):
        crm.visits.book(patient.id, starts_at=T0.replace(day=day), kind="cleaning")
    own = [crm.visits.history(patient.id), crm.patients.find(clinic.id, name="lin")]
    with crm.transaction() as tx:  # the caller's session: loaded through it, attached to it
        shared = [tx.visits.history(patient.id), tx.patients.find(clinic.id, name="lin")]
        assert all(inspect(item).persistent for items in shared for item in items)
        fields = [[item.model_dump() for item in items] for items in shared]
    assert [[item.model_dump() for item in items] for items in own] == fields
    for items in own:
        for item in items:
            state = inspect(item)
            assert state.detached and state.identity == (item.id,) and not state.unloaded
    assert own[0][0].starts_at == T0.replace(day=2) and own[0][0].starts_at.tzinfo is UTC
    with crm.transaction() as tx:  # a detached instance can join a session as any loaded one can
        assert tx.session is not None and tx.session.merge(own[0][0]) is not own[0][0]
