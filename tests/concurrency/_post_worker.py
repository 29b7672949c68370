"""A ``publish_due`` process for the concurrency tests: ``python _post_worker.py --db URL --out FILE --now ISO [...]``.

The same options as ``_worker.py`` (``--ready``/``--go``, ``--block-after N``/``--release``, ``--lease-seconds``,
``--limit``).  Its publisher appends ``post_id idempotency_key`` to ``--out`` (flushed to the OS before
``publish`` returns, so a SIGKILL loses nothing already handed over) and returns ``"<name>:<key>"``.
Prints the ``PublishReport`` counts as JSON on stdout when done.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

from clinic_crm import ClinicCRM, PublicPost


class RecordingFilePublisher:
    """Records every post handed to it in a file, one line each, before returning."""

    def __init__(self, name: str, out: Path, block_after: int | None, release: Path | None) -> None:
        self.name = name
        self.handle = out.open("a", encoding="utf-8", buffering=1)
        self.block_after = block_after
        self.release = release
        self.count = 0

    def publish(self, post: PublicPost) -> str:
        self.handle.write(f"{post.post_id} {post.idempotency_key}\n")
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.count += 1
        if self.block_after is not None and self.count > self.block_after:
            while self.release is None or not self.release.exists():
                time.sleep(0.02)
        return f"{self.name}:{post.idempotency_key}"


def _wait_for(path: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {path}")
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--name", default="worker")
    parser.add_argument("--now", required=True)
    parser.add_argument("--lease-seconds", type=float, default=600)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--block-after", type=int, default=None)
    parser.add_argument("--release", type=Path, default=None)
    parser.add_argument("--ready", type=Path, default=None)
    parser.add_argument("--go", type=Path, default=None)
    args = parser.parse_args()

    publisher = RecordingFilePublisher(args.name, args.out, args.block_after, args.release)
    with ClinicCRM(args.db) as crm:
        with crm.engine.connect():  # warm the pool before the start signal
            pass
        if args.ready is not None:
            args.ready.touch()
        if args.go is not None:
            _wait_for(args.go)
        report = crm.posts.publish_due(
            publisher,
            now=datetime.fromisoformat(args.now),
            limit=args.limit,
            lease=timedelta(seconds=args.lease_seconds),
            batch_size=args.batch_size,
        )
    counts = {name: getattr(report, name) for name in ("published", "held", "failed", "gave_up", "claimed", "fenced")}
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
