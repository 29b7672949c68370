"""Units of work, and the one way a facade call reaches its service function.

A sub-service of the facade (``crm.clinics``, ``crm.feedback``, …) is a :class:`ServiceGroup` whose public
calls are :class:`service` bindings of plain service functions ``fn(session, …)``.  The binding keeps the
function's own signature (minus ``session``) and its docstring, so each public call is written once — in
``services/`` — and ``mypy --strict`` checks every call site against it.

Read-only calls (service functions marked with :func:`reads`) run their queries in a read transaction: on
SQLite a deferred ``BEGIN`` (WAL readers proceed while another process holds the write lock) instead of
``BEGIN IMMEDIATE``.  What such a call must still write — the audit events of a patient read — is collected
while it reads (:func:`deferred_writes`) and written once the read succeeded; the result is handed back only
once those writes committed, and nothing is written after an error.  Where they are written is decided in one
place, :func:`writes_after_read`: on SQLite in a short write transaction right after the read commits (the
read never takes the write lock), on PostgreSQL at the end of the read's own transaction (a read never blocks
a writer there, and one COMMIT instead of two saves a round trip and a WAL flush).

A read-only call that writes nothing and answers from one statement may also have a session-free twin
(:func:`sessionless`): called on its own (not in ``crm.transaction()``, ``crm.bind()`` or a dry run), it runs that
statement on a pooled driver connection outside any explicit transaction (:func:`clinic_crm.db.detached.whole_read`)
— no ``Session``, no ``BEGIN``/``COMMIT``.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, cast, overload

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from clinic_crm.db import READ_ONLY_OPTION, database_errors
from clinic_crm.db.detached import supports_whole_read
from clinic_crm.services._common import check_arguments

__all__ = [
    "UnitOfWork",
    "ServiceGroup",
    "service",
    "overloaded_service",
    "reads",
    "is_read_only",
    "sessionless",
    "deferred_writes",
    "writes_after_read",
    "owns_read",
    "actor_of",
    "DEFAULT_ACTOR",
]

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])

#: Who acts when the facade was not told (``ClinicCRM(url, actor=…)`` / ``crm.as_actor(…)``).
DEFAULT_ACTOR = "system"

_ACTOR_KEY = "clinic_crm.actor"
_DEFERRED_KEY = "clinic_crm.deferred_writes"
_OWN_READ_KEY = "clinic_crm.own_read"
_READS_ATTR = "__clinic_crm_reads__"
_SESSIONLESS_ATTR = "__clinic_crm_sessionless__"

#: A write a read-only call postponed until its read committed: called with the session, in a write transaction.
DeferredWrite = Callable[[Session], object]


def actor_of(session: Session) -> str:
    """The name of whoever acts through ``session`` (for the audit trail)."""
    return str(session.info.get(_ACTOR_KEY, DEFAULT_ACTOR))


def reads(fn: F) -> F:
    """Mark a service function as read-only: its facade call runs in a read transaction (see the module doc).

    The function may still call :func:`clinic_crm.services.audit.record_audit`: in a read-only call the events
    are written once the read succeeded (:func:`deferred_writes`, :func:`writes_after_read`).  Anything else it
    writes is a bug.
    """
    setattr(fn, _READS_ATTR, True)
    return fn


def is_read_only(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` was marked with :func:`reads`."""
    return bool(getattr(fn, _READS_ATTR, False))


def sessionless(
    fast: Callable[Concatenate[Engine, P], R],
) -> Callable[[Callable[Concatenate[Session, P], R]], Callable[Concatenate[Session, P], R]]:
    """Give a read-only service function (marked :func:`reads`, applied first) a session-free twin.

    ``fast(engine, …)`` takes the function's parameters after ``session`` and gives the same answer (result and
    errors) from one statement run with :func:`clinic_crm.db.detached.whole_read`.  The facade calls it instead of
    the function when the call runs on its own on an engine that
    :func:`~clinic_crm.db.detached.supports_whole_read`; in a caller's transaction (``crm.transaction()``,
    ``crm.bind(session)``) or a dry run the function itself runs, in that session.  The twin writes nothing
    (an audited read cannot have one).
    """

    def mark(fn: Callable[Concatenate[Session, P], R]) -> Callable[Concatenate[Session, P], R]:
        if not is_read_only(fn):
            raise TypeError(f"{fn.__name__} must be marked @reads before it gets a sessionless twin")
        setattr(fn, _SESSIONLESS_ATTR, fast)
        return fn

    return mark


def deferred_writes(session: Session) -> list[DeferredWrite] | None:
    """In a read-only call of its own, the list to append writes to (run after the read commits); else ``None``.

    ``None`` means "write now": the call runs in a write transaction (or in a caller's transaction).
    """
    found: list[DeferredWrite] | None = session.info.get(_DEFERRED_KEY)
    return found


def writes_after_read(dialect_name: str) -> bool:
    """Whether a read-only call's deferred writes run in a transaction of their own after the read committed.

    SQLite: yes — the read runs in a deferred ``BEGIN`` and must not take the write lock.  PostgreSQL: no —
    readers never block writers, so the writes end the read's own transaction (one ``COMMIT``).
    """
    return dialect_name == "sqlite"


def owns_read(session: Session) -> bool:
    """Whether ``session`` is the private session of one read-only call (closed when the call returns).

    Its results are detached as soon as the call returns, so a list read may build them detached directly
    (:mod:`clinic_crm.db.detached`) instead of through the session's identity map.
    """
    return bool(session.info.get(_OWN_READ_KEY, False))


class UnitOfWork:
    """Runs service functions, each in its own transaction or in a savepoint of a shared session.

    * Own mode (``session=None``): every call opens a session, commits on success
      and rolls back on any error.
    * Bound mode (``crm.transaction()`` or ``crm.bind(session)``): every call runs in a
      SAVEPOINT of the shared session, so a failed call leaves nothing behind while the
      outer transaction — owned by someone else — decides whether everything commits.

    ``actor`` names who acts (the audit trail records it); services read it with :func:`actor_of`.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        session: Session | None = None,
        lock: threading.RLock | None = None,
        actor: str = DEFAULT_ACTOR,
    ) -> None:
        self.factory = factory
        self.session = session
        self.actor = actor
        self._lock = lock
        bind = factory.kw.get("bind")
        #: The engine session-free reads run on (:func:`sessionless`): own mode, on a supported driver; else ``None``.
        self.read_engine: Engine | None = (
            bind if session is None and isinstance(bind, Engine) and supports_whole_read(bind) else None
        )

    def sessionless(self, fn: Callable[Concatenate[Session, P], R]) -> Callable[Concatenate[Engine, P], R] | None:
        """``fn``'s session-free twin when this unit of work runs it so (see :func:`sessionless`), else ``None``."""
        if self.read_engine is None:
            return None
        return cast(Callable[Concatenate[Engine, P], R] | None, getattr(fn, _SESSIONLESS_ATTR, None))

    def with_actor(self, actor: str) -> UnitOfWork:
        """The same unit of work acting as ``actor``."""
        return UnitOfWork(self.factory, session=self.session, lock=self._lock, actor=actor)

    @property
    def bound(self) -> bool:
        """True when calls share a session owned by the caller."""
        return self.session is not None

    def guard(self) -> AbstractContextManager[object]:
        """The lock serialising access to a single shared in-memory SQLite connection (else a no-op)."""
        return self._lock if self._lock is not None else nullcontext()

    @contextmanager
    def session_scope(self, *, read_only: bool = False) -> Iterator[Session]:
        """A session inside a transaction (own mode) or a savepoint (bound mode), acting as ``actor``.

        ``read_only`` (own mode): the work runs in a read transaction; writes it deferred with
        :func:`deferred_writes` run after the read succeeded, where :func:`writes_after_read` says.
        """
        if self.session is None and read_only:
            with database_errors(), self.guard(), self.factory() as session:
                session.info[_ACTOR_KEY] = self.actor
                session.info[_OWN_READ_KEY] = True
                later: list[DeferredWrite] = []
                session.info[_DEFERRED_KEY] = later
                after = writes_after_read(session.get_bind().dialect.name)
                with session.begin():
                    session.connection(execution_options={READ_ONLY_OPTION: True})
                    yield session
                    del session.info[_DEFERRED_KEY]
                    if later and not after:
                        _write_all(session, later)
                if later and after:
                    with session.begin():
                        _write_all(session, later)
        elif self.session is None:
            with database_errors(), self.guard(), self.factory() as session, session.begin():
                session.info[_ACTOR_KEY] = self.actor
                yield session
        else:
            previous = self.session.info.get(_ACTOR_KEY)
            self.session.info[_ACTOR_KEY] = self.actor
            try:
                with database_errors(), self.session.begin_nested():
                    yield self.session
            finally:
                if previous is None:
                    self.session.info.pop(_ACTOR_KEY, None)
                else:
                    self.session.info[_ACTOR_KEY] = previous

    def run(self, fn: Callable[Concatenate[Session, P], R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``fn(session, *args, **kwargs)`` in one unit of work and return its result.

        The arguments pass the edge check first (:func:`~clinic_crm.services._common.check_arguments`); a
        service marked :func:`reads` runs in a read transaction.
        """
        check_arguments(fn, args, kwargs)
        fast = self.sessionless(fn)
        if fast is not None:
            return self.run_sessionless(fast, *args, **kwargs)
        with self.session_scope(read_only=is_read_only(fn)) as session:
            return fn(session, *args, **kwargs)

    def run_sessionless(self, fast: Callable[Concatenate[Engine, P], R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call a session-free twin ``fast(engine, …)`` (arguments checked) under the lock, errors translated."""
        assert self.read_engine is not None
        with database_errors(), self.guard():
            return fast(self.read_engine, *args, **kwargs)


def _write_all(session: Session, writes: list[DeferredWrite]) -> None:
    """Run the deferred ``writes`` of a read-only call, in order, in the session's current transaction."""
    for write in writes:
        write(session)


class ServiceGroup:
    """Base of the facade's sub-services: holds the unit of work their bound calls run in."""

    def __init__(self, unit: UnitOfWork) -> None:
        self._unit = unit


class service(Generic[P, R]):  # noqa: N801 - reads as a function in the class bodies that use it
    """Bind a service function ``fn(session, …)`` as a public call of a :class:`ServiceGroup`.

    ``crm.clinics.create(…)`` then runs ``create_clinic(session, …)`` in one unit of work.  The call has the
    function's signature without ``session`` and the function's docstring: one signature, one docstring.
    """

    def __init__(self, fn: Callable[Concatenate[Session, P], R]) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__
        signature = inspect.signature(fn)
        self._signature = signature.replace(parameters=list(signature.parameters.values())[1:])

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> service[P, R]: ...

    @overload
    def __get__(self, obj: ServiceGroup, owner: type[Any]) -> Callable[P, R]: ...

    def __get__(self, obj: ServiceGroup | None, owner: type[Any]) -> service[P, R] | Callable[P, R]:
        if obj is None:
            return self
        fn, unit = self.fn, obj._unit
        read_only = is_read_only(fn)
        fast = unit.sessionless(fn)

        if fast is not None:
            run_fast = unit.run_sessionless

            @functools.wraps(fn)
            def call(*args: P.args, **kwargs: P.kwargs) -> R:
                check_arguments(fn, args, kwargs)
                return run_fast(fast, *args, **kwargs)

        else:

            @functools.wraps(fn)
            def call(*args: P.args, **kwargs: P.kwargs) -> R:
                check_arguments(fn, args, kwargs)
                with unit.session_scope(read_only=read_only) as session:
                    return fn(session, *args, **kwargs)

        call.__signature__ = self._signature  # type: ignore[attr-defined]
        call.__name__ = self.name
        obj.__dict__[self.name] = call  # bound once per group: later lookups skip the descriptor
        return call


C = TypeVar("C")


class overloaded_service(Generic[C]):  # noqa: N801 - reads as a function in the class bodies that use it
    """:class:`service` for a function whose result type depends on its arguments (``nps(by=…)``).

    ``ParamSpec`` cannot carry ``@overload``s, so the facade call's type is named explicitly:
    ``nps = overloaded_service[MetricCall[NpsResult]](stats.nps)``, where ``MetricCall`` is a protocol whose
    overloaded ``__call__`` lives next to the service function (its one home).  A test checks that every
    overload takes the function's parameters minus ``session``, so the two cannot drift.
    """

    def __init__(self, fn: Callable[Concatenate[Session, ...], object]) -> None:
        self.service: service[..., object] = service(fn)
        self.__doc__ = fn.__doc__

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.service.__set_name__(owner, name)

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> overloaded_service[C]: ...

    @overload
    def __get__(self, obj: ServiceGroup, owner: type[Any]) -> C: ...

    def __get__(self, obj: ServiceGroup | None, owner: type[Any]) -> overloaded_service[C] | C:
        if obj is None:
            return self
        return cast(C, self.service.__get__(obj, owner))
