"""Units of work: where a facade call gets its session and its transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.orm import Session, sessionmaker

P = ParamSpec("P")
R = TypeVar("R")


class UnitOfWork:
    """Runs service functions, each in its own transaction or in a savepoint of a shared session.

    * Own mode (``session=None``): every call opens a session, commits on success
      and rolls back on any error.
    * Bound mode (``crm.transaction()`` or ``crm.bind(session)``): every call runs in a
      SAVEPOINT of the shared session, so a failed call leaves nothing behind while the
      outer transaction — owned by someone else — decides whether everything commits.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        session: Session | None = None,
        lock: threading.RLock | None = None,
    ) -> None:
        self.factory = factory
        self.session = session
        self._lock = lock

    @property
    def bound(self) -> bool:
        """True when calls share a session owned by the caller."""
        return self.session is not None

    def guard(self) -> AbstractContextManager[object]:
        """The lock serialising access to a single shared in-memory SQLite connection (else a no-op)."""
        return self._lock if self._lock is not None else nullcontext()

    @contextmanager
    def session_scope(self) -> Iterator[Session]:
        """A session inside a transaction (own mode) or a savepoint (bound mode)."""
        if self.session is None:
            with self.guard(), self.factory() as session, session.begin():
                yield session
        else:
            with self.session.begin_nested():
                yield self.session

    def run(self, fn: Callable[Concatenate[Session, P], R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``fn(session, *args, **kwargs)`` in one unit of work and return its result."""
        with self.session_scope() as session:
            return fn(session, *args, **kwargs)
