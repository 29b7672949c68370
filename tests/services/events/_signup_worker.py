"""A sign-up process for the concurrency tests: ``python _signup_worker.py --db URL --event ID --patients 1,2,3``.

Registers each patient (``--seats`` each, or ``1,2,3`` cycling) for the event, one call each, and prints the
``[registration_id, patient_id, status]`` triples it got back as JSON.  ``--ready FILE`` / ``--go FILE``:
touch ``ready`` once connected, then wait for ``go`` so that every process starts signing up at once.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from itertools import cycle
from pathlib import Path

from clinic_crm import ClinicCRM


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--event", required=True, type=int)
    parser.add_argument("--patients", required=True)
    parser.add_argument("--seats", default="1")
    parser.add_argument("--ready", type=Path, default=None)
    parser.add_argument("--go", type=Path, default=None)
    args = parser.parse_args()

    patients = [int(p) for p in args.patients.split(",")]
    seats = cycle(int(s) for s in args.seats.split(","))
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    got = []
    with ClinicCRM(args.db) as crm:
        with crm.engine.connect():  # warm the pool before the start signal
            pass
        if args.ready is not None:
            args.ready.touch()
        if args.go is not None:
            deadline = time.monotonic() + 120
            while not args.go.exists():
                if time.monotonic() > deadline:
                    raise SystemExit("timed out waiting for the start signal")
                time.sleep(0.01)
        for patient_id in patients:
            registration = crm.events.register(args.event, patient_id=patient_id, at=at, seats=next(seats))
            got.append([registration.id, patient_id, registration.status])
    print(json.dumps(got))


if __name__ == "__main__":
    main()
