"""ChunkPipeline: chunks applied in order, on a worker thread or inline; errors cross back to the caller."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from clinic_crm.services.import_pipeline import ChunkPipeline


class Recorder:
    """An ``apply`` that records each chunk's first row number and the thread it ran on; fails on ``fail_at``."""

    def __init__(self, fail_at: int | None = None, gate: threading.Event | None = None) -> None:
        self.seen: list[int] = []
        self.threads: set[str] = set()
        self.fail_at = fail_at
        self.gate = gate

    def __call__(self, numbers: list[int], cleaned: list[dict[str, Any]]) -> None:
        if self.gate is not None:
            self.gate.wait(5)
        self.threads.add(threading.current_thread().name)
        if numbers and numbers[0] == self.fail_at:
            raise LookupError("chunk failed")
        self.seen.append(numbers[0] if numbers else 0)


@pytest.mark.parametrize("background", [True, False])
def test_chunks_apply_in_order_on_the_expected_thread(background: bool) -> None:
    apply = Recorder()
    with ChunkPipeline(apply, background=background) as pipeline:
        for start in range(1, 50, 5):
            pipeline.submit([start], [{}])
        pipeline.close()
    assert apply.seen == list(range(1, 50, 5))
    expected = "clinic_crm-import-writer" if background else threading.current_thread().name
    assert apply.threads == {expected}


def test_a_worker_error_reaches_the_caller_and_later_chunks_are_skipped() -> None:
    apply = Recorder(fail_at=6)
    with pytest.raises(LookupError), ChunkPipeline(apply, background=True) as pipeline:
        for start in range(1, 100, 5):
            pipeline.submit([start], [{}])
        pipeline.close()
    assert apply.seen == [1]  # nothing after the failed chunk was applied


def test_a_caller_error_stops_the_worker_before_it_goes_on() -> None:
    gate = threading.Event()
    apply = Recorder(gate=gate)
    with pytest.raises(KeyError), ChunkPipeline(apply, background=True) as pipeline:
        pipeline.submit([1], [{}])  # taken by the worker, which waits at the gate
        pipeline.submit([6], [{}])  # queued
        gate.set()
        raise KeyError("the caller failed")
    # the block was left only after the worker stopped: nothing is applied behind the caller's back
    count = len(apply.seen)
    assert count <= 2 and apply.seen == [1, 6][:count]
    assert not any(thread.name == "clinic_crm-import-writer" for thread in threading.enumerate())


def test_close_raises_an_error_of_the_last_chunk_once() -> None:
    apply = Recorder(fail_at=1)
    pipeline = ChunkPipeline(apply, background=True)
    pipeline.submit([1], [{}])
    with pytest.raises(LookupError):
        pipeline.close()
    pipeline.close()  # already reported: closing again is quiet
