"""Units of work, and the one way a facade call reaches its service function.

A sub-service of the facade (``crm.clinics``, ``crm.feedback``, …) is a :class:`ServiceGroup` whose public
calls are :class:`service` bindings of plain service functions ``fn(session, …)``.  The binding keeps the
function's own signature (minus ``session``) and its docstring, so each public call is written once — in
``services/`` — and ``mypy --strict`` checks every call site against it.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from sqlalchemy.orm import Session, sessionmaker

from clinic_crm.db import database_errors
from clinic_crm.services._common import check_arguments

__all__ = ["UnitOfWork", "ServiceGroup", "service", "actor_of", "DEFAULT_ACTOR"]

P = ParamSpec("P")
R = TypeVar("R")

#: Who acts when the facade was not told (``ClinicCRM(url, actor=…)`` / ``crm.as_actor(…)``).
DEFAULT_ACTOR = "system"

_ACTOR_KEY = "clinic_crm.actor"


def actor_of(session: Session) -> str:
    """The name of whoever acts through ``session`` (for the audit trail)."""
    return str(session.info.get(_ACTOR_KEY, DEFAULT_ACTOR))


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
    def session_scope(self) -> Iterator[Session]:
        """A session inside a transaction (own mode) or a savepoint (bound mode), acting as ``actor``."""
        if self.session is None:
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
        """Call ``fn(session, *args, **kwargs)`` in one unit of work and return its result (ids checked first)."""
        check_arguments(fn, args, kwargs)
        with self.session_scope() as session:
            return fn(session, *args, **kwargs)


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

        @functools.wraps(fn)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            check_arguments(fn, args, kwargs)
            with unit.session_scope() as session:
                return fn(session, *args, **kwargs)

        call.__signature__ = self._signature  # type: ignore[attr-defined]
        call.__name__ = self.name
        obj.__dict__[self.name] = call  # bound once per group: later lookups skip the descriptor
        return call
