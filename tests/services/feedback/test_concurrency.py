"""Two members of staff move one case at the same time: exactly one wins, the other gets InvalidTransition."""

from __future__ import annotations

import threading
from datetime import timedelta

from clinic_crm import ClinicCRM, InvalidTransition
from tests.conftest import T0
from tests.services.feedback.conftest import CaseFactory

ROUNDS = 4
H = timedelta(hours=1)


def test_concurrent_moves_of_one_case(crm: ClinicCRM, db_url: str, make_case: CaseFactory) -> None:
    facades = [ClinicCRM(db_url), ClinicCRM(db_url)]
    try:
        for _ in range(ROUNDS):
            case = make_case()
            assert case.id is not None
            barrier = threading.Barrier(2)
            outcomes: list[str] = []
            lock = threading.Lock()

            def move(
                facade: ClinicCRM,
                resolve: bool,
                case_id: int = case.id,
                barrier: threading.Barrier = barrier,
                outcomes: list[str] = outcomes,
                lock: threading.Lock = lock,
            ) -> None:
                barrier.wait()
                try:
                    if resolve:
                        facade.feedback.resolve(case_id, at=T0 + H, by="B", resolution="done")
                    else:
                        facade.feedback.acknowledge(case_id, at=T0 + H, by="A")
                    result = "resolve" if resolve else "acknowledge"
                except InvalidTransition:
                    result = "refused"
                with lock:
                    outcomes.append(result)

            threads = [threading.Thread(target=move, args=(f, i == 0)) for i, f in enumerate(facades)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            stored = crm.feedback.get(case.id)
            kinds = [e.kind for e in crm.feedback.history(case.id)]
            if sorted(outcomes) == ["acknowledge", "resolve"]:  # acknowledged first, then resolved
                assert stored.status == "resolved" and kinds == ["recorded", "acknowledged", "resolved"]
            elif "resolve" in outcomes:  # resolved from open first; acknowledging it then is refused
                assert sorted(outcomes) == ["refused", "resolve"]
                assert stored.status == "resolved" and kinds == ["recorded", "acknowledged", "resolved"]
            else:
                raise AssertionError(f"unexpected outcomes {outcomes}")
        # the same move twice at once: one wins
        case = make_case()
        assert case.id is not None
        barrier2 = threading.Barrier(2)
        results: list[str] = []

        def ack(facade: ClinicCRM) -> None:
            barrier2.wait()
            try:
                facade.feedback.acknowledge(case.id, at=T0 + H, by="A")  # type: ignore[arg-type]
                results.append("ok")
            except InvalidTransition:
                results.append("refused")

        threads = [threading.Thread(target=ack, args=(f,)) for f in facades]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == ["ok", "refused"]
        assert [e.kind for e in crm.feedback.history(case.id)] == ["recorded", "acknowledged"]
    finally:
        for facade in facades:
            facade.close()
