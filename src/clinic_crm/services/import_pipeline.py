"""The import's pipeline: chunks are written in order while the next chunk is being validated.

On PostgreSQL the database works in another process: while the server inserts a chunk (and
maintains the patient table's indexes, the trigram GIN index above all), the client could already
validate the next one.  Written one after the other, the two costs add up; a raw ``COPY`` that
streams rows as it parses them overlaps them.  :class:`ChunkPipeline` with ``background=True``
gives the import the same overlap: one worker thread applies the chunks, strictly in submission
order, on the caller's session, while the calling thread reads and validates.  Only the worker
uses the session until :meth:`ChunkPipeline.close` returns, so the session is never used by two
threads at once.  The queue holds one chunk, so memory stays bounded by three chunks (one being
validated, one waiting, one being written).

With ``background=False`` (SQLite: the database runs in this process, so a thread would only
contend for the interpreter) every chunk is applied inline, at :meth:`ChunkPipeline.submit`.

The writer thread spends most of its time waiting for the server, and after each round trip it needs the
interpreter back from the validating thread, which would otherwise keep it for the switch interval (5 ms) while
the server has nothing to do.  So the validating thread calls :meth:`ChunkPipeline.hand_over` every
``HAND_OVER_MASK + 1`` rows (about every 2 ms).

An error raised by a chunk's writer (``DuplicatePatient``, a database error) stops the pipeline:
later chunks are skipped and the error is raised in the calling thread at the next ``submit`` or at
``close``; the caller's transaction then rolls back as for any other error.
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, cast

__all__ = ["ChunkPipeline", "Chunk", "HAND_OVER_MASK"]

#: One chunk: the row numbers of its cleaned rows, and the cleaned rows.
Chunk = tuple[list[int], list[dict[str, Any]]]

_STOP = object()

#: With a writer thread, the reading thread hands it the interpreter when ``row_number & HAND_OVER_MASK == 0``.
HAND_OVER_MASK = 127


class ChunkPipeline:
    """Applies chunks with ``apply`` in submission order: on one worker thread, or inline.

    Use as a context manager: leaving the block by an exception stops the worker (after the chunk it
    is writing) and waits for it before the exception goes on, so the caller's rollback never races it.
    """

    def __init__(self, apply: Callable[[list[int], list[dict[str, Any]]], object], *, background: bool) -> None:
        self._apply = apply
        self._error: BaseException | None = None
        self._aborted = False
        self._closed = False
        self._raised = False
        self._thread: threading.Thread | None = None
        self._queue: queue.Queue[object] = queue.Queue(maxsize=1)
        if background:
            context = contextvars.copy_context()  # the worker sees what the caller's context holds
            self._thread = threading.Thread(
                target=context.run, args=(self._work,), name="clinic_crm-import-writer", daemon=True
            )
            self._thread.start()

    def submit(self, numbers: list[int], cleaned: list[dict[str, Any]]) -> None:
        """Apply (or queue) one chunk; the lists now belong to the pipeline.

        Raises:
            Whatever an earlier chunk's ``apply`` raised on the worker thread.
        """
        if self._thread is None:
            self._apply(numbers, cleaned)
            return
        self._raise_error()
        self._queue.put((numbers, cleaned))

    @staticmethod
    def hand_over() -> None:
        """Let the writer thread, if it is waiting for the interpreter, run now (``time.sleep(0)`` releases it)."""
        time.sleep(0)

    def close(self) -> None:
        """Wait until every submitted chunk is applied.

        Raises:
            Whatever a chunk's ``apply`` raised on the worker thread.
        """
        self._join()
        self._raise_error()

    def __enter__(self) -> ChunkPipeline:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is not None:
            self._aborted = True  # the caller failed: skip the chunks still queued
        self._join()

    def _join(self) -> None:
        if self._thread is None or self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()

    def _raise_error(self) -> None:
        error = self._error
        if error is not None and not self._raised:
            self._raised = True  # raised once; the worker keeps skipping chunks (``_error`` stays set)
            raise error

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._aborted or self._error is not None:
                continue  # keep draining so that the caller never blocks on a full queue
            chunk = cast(Chunk, item)
            try:
                self._apply(*chunk)
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                self._error = exc
