"""The walk-through's script: every ``clinic-crm`` command, in the order ``docs/getting-started.md`` tells it.

One data table, used twice: ``test_walkthrough.py`` runs it as subprocesses of the installed entry point on
SQLite and PostgreSQL, and ``test_docs_commands.py`` checks that every shell command in ``docs/`` and the README
is one of these steps (so the docs stay true).  ``{db}``, ``{tmp}``, ``{gateway}`` are filled in at run time.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

__all__ = ["Step", "STEPS", "PYTHON", "HELP_ONLY"]


@dataclass(frozen=True)
class Step:
    """One command line (``clinic-crm`` omitted) and the exit code it must end with."""

    line: str
    code: int = 0
    #: prints patient data on purpose (``--names``): left out of the leak check.
    shows_patients: bool = False
    #: only on SQLite (the demo always builds its own SQLite file).
    sqlite_only: bool = False

    def argv(self, **values: str) -> list[str]:
        return shlex.split(self.line.format(**values))


#: Markers between steps where the host's own software acts through the library (``docs/getting-started.md``:
#: "your scheduling system books the visits"; survey answers arrive from patients' phones).
PYTHON = ("book visits", "survey answers", "a feedback case")

STEPS: list[Step | str] = [
    Step("--version"),
    Step("clinics list --db sqlite:///{tmp}/missing.db", code=3),
    Step("migrate --db {db}"),
    Step('clinics create "Sunrise Dental" --timezone Asia/Taipei --locale zh_TW --region TW --db {db}'),
    Step("clinics list --db {db}"),
    Step("clinics create X --timezone Mars/Base --locale zh_TW --region TW --db {db}", code=2),
    Step("import patients.csv --clinic 1 --db {db}", code=1),  # one row has a malformed phone: rejected
    Step("import patients-big5.csv --clinic 1 --encoding cp950 --db {db}"),
    Step("import patients-big5.csv --clinic 1 --db {db}", code=2),  # not UTF-8: refused with a hint
    "book visits",
    Step("reminders plan --db {db} --now 2026-03-02T17:00:00+08:00 --horizon 3d --dry-run"),
    Step("reminders plan --db {db} --now 2026-03-02T17:00:00+08:00 --horizon 3d"),
    Step("reminders plan --db {db} --now 2026-03-02T17:00:00+08:00 --json"),
    Step("reminders dispatch --db {db} --sender http-sms,smtp --now 2026-03-02T17:00:00+08:00 --dry-run"),
    Step("reminders dispatch --db {db} --sender smtp --now 2026-03-02T17:00:00+08:00", code=2),  # SMS unreachable
    Step("reminders dispatch --db {db} --sender http-sms,smtp --now 2026-03-02T17:00:00+08:00", code=1),
    Step("reminders dispatch --db {db} --sender http-sms --now 2026-03-02T17:00:00+08:00 --json", code=2),
    Step("reminders dispatch --db {db} --sender outbox --now 2026-03-02T17:00:00+08:00"),
    "survey answers",
    Step("report nps --db {db} --by month"),
    Step("report nps --db {db} --clinic 1 --by practitioner --since 2026-01-01 --png nps.png --csv nps.csv"),
    Step("report csat --db {db} --by visit_kind --csv csat.csv"),
    Step("report response-rate --db {db} --by channel --min-responses 0"),
    Step("report csat --db {db} --png x.png", code=2),
    "a feedback case",
    Step("feedback list --clinic 1 --status open --db {db}"),
    Step("feedback list --clinic 1 --breached --now 2026-03-31T09:00+08:00 --db {db}", code=1),
    Step("feedback sla --clinic 1 --by month --now 2026-03-31T09:00+08:00 --csv sla.csv --db {db}"),
    Step("crisis readiness --clinic 1 --db {db}"),
    Step(
        'incident declare --clinic 1 --title "Appointment list leaked" --type data_breach --by "Dr. Lin" '
        "--at 2026-03-02T17:00:00+08:00 --db {db}"
    ),
    Step("incident status --clinic 1 --now 2026-03-02T18:00:00+08:00 --db {db}"),
    Step("incident overdue --now 2026-03-02T18:00:00+08:00 --db {db}"),
    Step("incident overdue --now 2026-03-20T18:00:00+08:00 --db {db}", code=1),
    Step("posts publish --db {db} --publisher outbox --outbox posts.jsonl"),
    Step("posts publish --db {db} --publisher webhook --url {gateway}"),
    Step("posts list --db {db} --clinic 1 --status held"),
    Step("reputation import mentions.csv --clinic 1 --source csv --db {db}"),
    Step("reputation import reviews.json --clinic 1 --source google --db {db}"),
    Step("reputation check --clinic 1 --now 2026-03-02T09:00+08:00 --db {db}"),
    Step("reputation summary --clinic 1 --by month --png reputation.png --csv reputation.csv --db {db}"),
    Step(
        'events create --clinic 1 --title 糖尿病衛教講座 --title-in en "Living well with diabetes" --kind health_talk '
        '--starts 2026-03-20T14:00+08:00 --ends 2026-03-20T16:00+08:00 --location "Room 3" --capacity 30 --db {db}'
    ),
    Step("events list --clinic 1 --db {db}"),
    Step("events registrations 1 --db {db}"),
    Step("events registrations 1 --names --status registered --db {db}", shows_patients=True),
    Step("events report --clinic 1 --by month --since 2026-01-01 --db {db}"),
    Step("patients duplicates --clinic 1 --db {db}"),
    Step("patients export 1 --out export.json --db {db}"),
    Step("patients export 1 --fhir R5 --out export-fhir.json --db {db}"),
    Step('patients merge 1 2 --by "Front desk" --db {db}'),
    Step('patients erase 3 --by "Dr. Lin" --reason "patient asked" --db {db}'),
    Step("audit verify --db {db}"),
    Step("demo --db sqlite:///demo.db --patients 40", sqlite_only=True),
    Step("report nps --db sqlite:///demo.db --by month", sqlite_only=True),
]

#: Commands whose ``--help`` is run (every command and action of the parser is checked to be here).
HELP_ONLY = ["--help"]
