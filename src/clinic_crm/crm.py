"""``ClinicCRM``: the facade other systems code against.

It owns the engine and hands each sub-service a unit of work: one call, one
transaction; ``transaction()`` and ``bind()`` share one transaction across calls.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from clinic_crm.api._unit import DEFAULT_ACTOR, UnitOfWork
from clinic_crm.api.audit import AuditAPI
from clinic_crm.api.clinics import ClinicsAPI
from clinic_crm.api.crisis import CrisisAPI
from clinic_crm.api.events import EventsAPI
from clinic_crm.api.feedback import FeedbackAPI
from clinic_crm.api.incidents import IncidentsAPI
from clinic_crm.api.patients import PatientsAPI
from clinic_crm.api.posts import PostsAPI
from clinic_crm.api.reminders import RemindersAPI
from clinic_crm.api.reputation import ReputationAPI
from clinic_crm.api.risks import RisksAPI
from clinic_crm.api.surveys import SurveysAPI
from clinic_crm.api.visits import VisitsAPI
from clinic_crm.db import create_crm_engine, prepare_engine
from clinic_crm.errors import ValidationError

__all__ = ["ClinicCRM", "Scope"]


def _check_actor(actor: object) -> str:
    if not isinstance(actor, str) or not actor.strip() or len(actor.strip()) > 200:
        raise ValidationError("actor must be a non-empty name of at most 200 characters", field="actor")
    return actor.strip()


class Scope:
    """The sub-services bound to one unit of work (the facade's own, a transaction, or a host session)."""

    clinics: ClinicsAPI
    patients: PatientsAPI
    visits: VisitsAPI
    reminders: RemindersAPI
    surveys: SurveysAPI
    feedback: FeedbackAPI
    risks: RisksAPI
    crisis: CrisisAPI
    incidents: IncidentsAPI
    posts: PostsAPI
    reputation: ReputationAPI
    events: EventsAPI
    audit: AuditAPI

    def __init__(self, unit: UnitOfWork) -> None:
        self._unit = unit
        self.clinics = ClinicsAPI(unit)
        self.patients = PatientsAPI(unit)
        self.visits = VisitsAPI(unit)
        self.reminders = RemindersAPI(unit)
        self.surveys = SurveysAPI(unit)
        self.feedback = FeedbackAPI(unit)
        self.risks = RisksAPI(unit)
        self.crisis = CrisisAPI(unit)
        self.incidents = IncidentsAPI(unit)
        self.posts = PostsAPI(unit)
        self.reputation = ReputationAPI(unit)
        self.events = EventsAPI(unit)
        self.audit = AuditAPI(unit)

    @property
    def actor(self) -> str:
        """Who acts through these sub-services (recorded in the audit trail)."""
        return self._unit.actor

    def as_actor(self, actor: str) -> Scope:
        """The same sub-services acting as ``actor`` (a member of staff, a script): ``crm.as_actor("dr.lin")``.

        Raises:
            ValidationError: ``actor`` is empty or longer than 200 characters.
        """
        return Scope(self._unit.with_actor(_check_actor(actor)))

    @property
    def session(self) -> Session | None:
        """The shared session of a transaction or bound scope; ``None`` on the facade itself."""
        return self._unit.session


class ClinicCRM(Scope):
    """The clinic_crm facade.

    Example::

        with ClinicCRM("sqlite:///clinic.db") as crm:
            crm.migrate()
            clinic = crm.clinics.create("Sunrise Dental", timezone="Asia/Taipei", locale="zh_TW", region="TW")

    Args:
        url_or_engine: a database URL (``sqlite:///clinic.db``, ``sqlite://`` for memory,
            ``postgresql+psycopg://…``) or an SQLAlchemy ``Engine`` the host already has.
        actor: who acts through this facade (a member of staff, a script); the audit trail records it.
    """

    def __init__(self, url_or_engine: str | Engine, *, actor: str = DEFAULT_ACTOR) -> None:
        actor = _check_actor(actor)
        if isinstance(url_or_engine, Engine):
            self.engine = prepare_engine(url_or_engine)
            self._owns_engine = False
        elif isinstance(url_or_engine, str):
            self.engine = create_crm_engine(url_or_engine)
            self._owns_engine = True
        else:
            raise ValidationError("ClinicCRM takes a database URL or an SQLAlchemy Engine", field="url_or_engine")
        self._factory = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        memory = self.engine.dialect.name == "sqlite" and self.engine.url.database in (None, "", ":memory:")
        self._lock = threading.RLock() if memory else None
        super().__init__(UnitOfWork(self._factory, lock=self._lock, actor=actor))

    def migrate(self) -> None:
        """Upgrade the database schema to the newest revision (Alembic ``upgrade head``); idempotent."""
        from clinic_crm.migrations import upgrade

        with self._unit.guard():
            upgrade(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Scope]:
        """Run several calls in one transaction: all of them commit together, or none does.

        Example::

            with crm.transaction() as tx:
                visit = tx.visits.book(patient.id, starts_at=start, kind="checkup")
                tx.reminders.schedule(patient.id, kind="appointment", purpose="care", due_at=start - DAY)
        """
        with self._unit.guard(), self._factory() as session, session.begin():
            yield Scope(UnitOfWork(self._factory, session=session, lock=self._lock, actor=self._unit.actor))

    @contextmanager
    def dry_run(self) -> Iterator[Scope]:
        """Run calls for real inside one outer transaction that is rolled back at the end: nothing is kept.

        Every transaction a call opens — each one of ``reminders.dispatch``'s commits included — becomes a
        SAVEPOINT of that outer transaction, so the checks and counts are the real ones.  Pair dispatch with a
        sender that sends nothing (``clinic_crm.messaging.outbox.NullSender``); ``clinic-crm reminders plan|dispatch
        --dry-run`` does.

        Example::

            with crm.dry_run() as trial:
                would_create = trial.reminders.plan(now=now, horizon=timedelta(days=7))
        """
        with self._unit.guard(), self.engine.connect() as connection:
            outer = connection.begin()
            try:
                factory = sessionmaker(
                    bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False, autoflush=False
                )
                yield Scope(UnitOfWork(factory, actor=self._unit.actor))
            finally:
                outer.rollback()

    def bind(self, session: Session) -> Scope:
        """The sub-services running inside a host application's own ``Session``; the host commits.

        Each call runs in a SAVEPOINT, so a call that fails leaves nothing behind in the host's transaction.
        """
        return Scope(UnitOfWork(self._factory, session=session, lock=self._lock, actor=self._unit.actor))

    def close(self) -> None:
        """Release the database connections (the engine is disposed only if the facade created it)."""
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> ClinicCRM:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
