"""Every public call of the facade, fed hostile values on SQLite and PostgreSQL (issue 8).

The calls are found by walking ``ClinicCRM``'s groups (each ``service(...)`` binding and each hand-written
method), so a new call is covered the day it is added: ``test_every_public_call_is_enumerated`` fails until
``VALID`` can build its required arguments.  Each example takes valid arguments for one call against a seeded
clinic (patients, visits, a survey with an invitation and a response, a reminder, a case, a risk, an incident
with a statement, a post, a mention, an event with a registration), replaces one argument (or adds one unknown
keyword) with a hostile value — arbitrary Unicode with lone surrogates and NULs, huge strings, aware and naive
datetimes near years 1 and 9999, ids 0, -1, 2**31, 2**63, lists, dicts, sets, Decimals, bytes, NaN, None, bools —
and asserts:

* only ``ClinicCRMError`` subclasses escape (``OSError`` too for ``import_csv``'s ``path``, as documented);
* nothing is written after an error: a checksum of every table's rows is unchanged.

Each example runs in ``crm.transaction()`` and is rolled back, so every example starts from the same seed;
``reminders.dispatch`` and ``posts.publish_due`` commit by themselves and run on the facade.

CI runs a few derandomized examples per call and backend; hunt harder by hand with
``--hypothesis-profile=properties-deep`` (see ``conftest.py`` beside this file).
"""

from __future__ import annotations

import hashlib
import inspect
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, select

from clinic_crm import ClinicCRM, ClinicCRMError
from clinic_crm.crm import Scope
from clinic_crm.db import create_crm_engine
from clinic_crm.migrations import upgrade
from clinic_crm.models import metadata
from clinic_crm.surveys_types import Question
from clinic_crm.testing import RecordingPublisher, RecordingSender, throwaway_postgres
from tests.conftest import PG_ADMIN_URL, REQUIRE_PG, _pg_available

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
GROUPS = (
    "clinics",
    "patients",
    "visits",
    "reminders",
    "surveys",
    "feedback",
    "risks",
    "crisis",
    "incidents",
    "posts",
    "reputation",
    "events",
    "audit",
)
#: Calls that commit by themselves and refuse ``crm.transaction()``: run on the facade.
OWN_COMMITS = {"reminders.dispatch", "posts.publish_due"}


def public_calls() -> list[str]:
    """``"group.name"`` for every public callable of every group of the facade."""
    with ClinicCRM("sqlite://") as crm:
        found = []
        for group in GROUPS:
            api = getattr(crm, group)
            for name in dir(type(api)):
                if not name.startswith("_") and callable(getattr(api, name)):
                    found.append(f"{group}.{name}")
    return sorted(found)


CALLS = public_calls()


# --------------------------------------------------------------------------------------------- the seeded clinic


@dataclass
class Seed:
    """Ids of a small realistic clinic, and a CSV file of patients."""

    crm: ClinicCRM
    ids: dict[str, int]
    token: str
    csv: Path


def _seed(crm: ClinicCRM, folder: Path) -> Seed:
    clinic = crm.clinics.create("Sunrise Dental", timezone="Asia/Taipei", locale="zh_TW", region="TW", now=T0)
    assert clinic.id is not None
    c = clinic.id
    p1 = crm.patients.register(
        c, family_name="Lin", given_name="Mei", phone="0912345678", email="mei@example.com", external_id="E1"
    )
    p2 = crm.patients.register(c, family_name="Lin", given_name="Mei", phone="0912345679", external_id="E2")
    assert p1.id is not None and p2.id is not None
    crm.patients.grant_consent(p1.id, "sms", "care", source="front desk", at=T0 - timedelta(days=30))
    crm.patients.grant_consent(p1.id, "email", "marketing", source="front desk", at=T0 - timedelta(days=30))
    booked = crm.visits.book(p1.id, starts_at=T0 + timedelta(days=2), kind="checkup", now=T0)
    done = crm.visits.book(p1.id, starts_at=T0 - timedelta(days=3), kind="checkup", practitioner="Dr. Chen", now=T0)
    assert booked.id is not None and done.id is not None
    crm.visits.check_in(done.id, at=T0 - timedelta(days=3))
    crm.visits.complete(done.id, at=T0 - timedelta(days=3) + timedelta(hours=1))
    survey = crm.surveys.create(
        c,
        name="After your visit",
        questions=[
            Question("recommend", "nps", "How likely are you to recommend us?"),
            Question("comment", "text", "Anything else?", required=False),
        ],
    )
    assert survey.id is not None
    invitation = crm.surveys.invite(survey.id, visit_id=done.id, at=T0 - timedelta(days=2), send=False)
    visit3 = crm.visits.book(p2.id, starts_at=T0 - timedelta(days=4), kind="checkup", now=T0)
    assert visit3.id is not None and invitation.id is not None
    crm.visits.check_in(visit3.id, at=T0 - timedelta(days=4))
    crm.visits.complete(visit3.id, at=T0 - timedelta(days=4) + timedelta(hours=1))
    answered = crm.surveys.invite(survey.id, visit_id=visit3.id, at=T0 - timedelta(days=3), send=False)
    response = crm.surveys.submit(answered.token, {"recommend": 2, "comment": "slow"}, at=T0 - timedelta(days=2))
    follow_ups = crm.surveys.follow_ups(c)
    reminder = crm.reminders.schedule(
        p1.id, kind="appointment", purpose="care", due_at=T0 + timedelta(days=1), visit_id=booked.id
    )
    crm.reminders.add_recall(p1.id, kind="recall", every="6 months", after_visit_kind="checkup")
    case = crm.feedback.record(
        c, kind="complaint", channel="phone", text="Waited an hour.", at=T0 - timedelta(hours=5), patient_id=p1.id
    )
    risk = crm.risks.add(
        c, title="Autoclave failure", category="operations", severity=6, occurrence=2, detection=2, at=T0
    )
    crm.crisis.set_member(c, role="lead", name="Dr. Chen", phone="0912000222")
    crm.crisis.set_playbook(c, crisis_type="data_breach", steps=["Call the lead"], holding_statement="We are on it.")
    arrived = crm.visits.book(p2.id, starts_at=T0 - timedelta(hours=1), kind="checkup", now=T0 - timedelta(days=1))
    assert arrived.id is not None
    crm.visits.check_in(arrived.id, at=T0 - timedelta(hours=1))
    incident = crm.incidents.declare(c, title="Leak", crisis_type="data_breach", at=T0 - timedelta(hours=1), by="Dr")
    assert incident.id is not None
    statement = crm.incidents.draft(incident.id, audience="staff", text="Refer calls to Amy.", at=T0, by="Amy")
    post = crm.posts.schedule(c, channel="website", text="Brush twice a day.", publish_at=T0 + timedelta(days=1))
    crm.reputation.ingest(
        c,
        [{"source": "facebook", "external_id": "fb-1", "text": "Friendly staff", "rating": 5, "posted_at": T0}],
        now=T0,
    )
    mention = crm.reputation.mentions(c)[0]
    event = crm.events.create(
        c,
        title="Living well with diabetes",
        kind="health_talk",
        starts_at=T0 + timedelta(days=10),
        ends_at=T0 + timedelta(days=10, hours=2),
        location="3F",
        capacity=20,
        now=T0,
    )
    assert event.id is not None
    registration = crm.events.register(event.id, patient_id=p1.id, at=T0)
    csv = folder / "patients.csv"
    csv.write_text("family_name,given_name,phone,external_id\nWang,Ming,0912000111,E9\n", encoding="utf-8")
    ids = {
        "clinic_id": c,
        "patient_id": p1.id,
        "keep_id": p1.id,
        "merge_id": p2.id,
        "visit_id": booked.id,
        "completed_visit_id": done.id,
        "arrived_visit_id": arrived.id,
        "survey_id": survey.id,
        "invitation_id": invitation.id,
        "response_id": response.id,
        "follow_up_id": follow_ups[0].id if follow_ups else 1,
        "reminder_id": reminder.id,
        "case_id": case.id,
        "risk_id": risk.id,
        "incident_id": incident.id,
        "statement_id": statement.id,
        "post_id": post.id,
        "mention_id": mention.id,
        "alert_id": 1,
        "event_id": event.id,
        "registration_id": registration.id,
    }
    return Seed(crm=crm, ids={k: int(v) for k, v in ids.items() if v is not None}, token=invitation.token, csv=csv)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def seed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seed]:
    """A seeded clinic on each backend, shared by the module's examples (each rolls back what it does)."""
    folder = tmp_path_factory.mktemp("properties")
    if request.param == "sqlite":
        with _seeded(f"sqlite:///{folder / 'clinic.db'}", folder) as found:
            yield found
        return
    problem = _pg_available()
    if problem is not None:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required but not reachable: {problem}")
        pytest.skip(f"no PostgreSQL server: {problem}")
    with throwaway_postgres(PG_ADMIN_URL, prefix="clinic_crm_props") as url, _seeded(url, folder) as found:
        yield found


class _seeded:  # noqa: N801 - a context manager read as a function
    def __init__(self, url: str, folder: Path) -> None:
        self.url, self.folder = url, folder

    def __enter__(self) -> Seed:
        engine = create_crm_engine(self.url)
        upgrade(engine)
        engine.dispose()
        self.crm = ClinicCRM(self.url)
        return _seed(self.crm, self.folder)

    def __exit__(self, *exc: object) -> None:
        self.crm.close()
        shutil.rmtree(self.folder, ignore_errors=True)


# ------------------------------------------------------------------------------------------- valid arguments

Valid = Callable[[Seed], Any]

#: Valid values by parameter name; ``VALID_FOR`` overrides them per call.
VALID: dict[str, Valid] = {
    "name": lambda s: "Sunrise",
    "timezone": lambda s: "Asia/Taipei",
    "locale": lambda s: "zh_TW",
    "region": lambda s: "TW",
    "family_name": lambda s: "Wang",
    "given_name": lambda s: "Ming",
    "phone": lambda s: "0912345678",
    "day": lambda s: date(2026, 3, 7),
    "reason": lambda s: "staff training",
    "instant": lambda s: T0,
    "days": lambda s: 3,
    "at": lambda s: T0,
    "now": lambda s: T0,
    "since": lambda s: T0 - timedelta(days=30),
    "until": lambda s: T0 + timedelta(days=30),
    "by": lambda s: "Dr. Chen",
    "channel": lambda s: "sms",
    "purpose": lambda s: "care",
    "source": lambda s: "front desk",
    "rows": lambda s: [{"family_name": "Wang", "given_name": "Ming", "external_id": "E7"}],
    "path": lambda s: s.csv,
    "starts_at": lambda s: T0 + timedelta(days=5),
    "ends_at": lambda s: T0 + timedelta(days=5, hours=2),
    "kind": lambda s: "checkup",
    "month": lambda s: 5,
    "every": lambda s: "6 months",
    "after_visit_kind": lambda s: "checkup",
    "sender": lambda s: RecordingSender(),
    "publisher": lambda s: RecordingPublisher(),
    "text": lambda s: "Thank you",
    "purposes": lambda s: ("marketing",),
    "horizon": lambda s: timedelta(days=7),
    "due_at": lambda s: T0 + timedelta(hours=3),
    "body": lambda s: "Hello {name}, see you {date}",
    "note": lambda s: "called back",
    "questions": lambda s: [Question("recommend", "nps", "How likely are you to recommend us?")],
    "token": lambda s: s.token,
    "answers": lambda s: {"recommend": 9},
    "to": lambda s: "Amy",
    "resolution": lambda s: "apologised",
    "acknowledge_within": lambda s: timedelta(hours=2),
    "resolve_within": lambda s: "3 working days",
    "title": lambda s: "A title",
    "category": lambda s: "operations",
    "severity": lambda s: 5,
    "occurrence": lambda s: 3,
    "detection": lambda s: 3,
    "crisis_type": lambda s: "data_breach",
    "roles": lambda s: ["lead"],
    "role": lambda s: "lead",
    "steps": lambda s: ["Call the lead"],
    "holding_statement": lambda s: "We are looking into it.",
    "summary": lambda s: "handled",
    "audience": lambda s: "staff",
    "patient_ids": lambda s: [s.ids["patient_id"]],
    "publish_at": lambda s: T0 + timedelta(days=2),
    "mentions": lambda s: [{"source": "ptt", "external_id": "M.1", "text": "great", "posted_at": T0}],
    "payload": lambda s: {"reviews": []},
    "location": lambda s: "B1",
}
VALID_FOR: dict[str, dict[str, Valid]] = {
    "reminders.schedule": {"kind": lambda s: "appointment"},
    "reminders.add_recall": {"kind": lambda s: "recall"},
    "reminders.add_greeting": {"kind": lambda s: "birthday", "day": lambda s: 12},
    "reminders.set_template": {"kind": lambda s: "appointment", "channel": lambda s: "sms"},
    "reminders.handle_reply": {"text": lambda s: "STOP"},
    "feedback.record": {"kind": lambda s: "complaint", "channel": lambda s: "phone"},
    "feedback.policy": {"kind": lambda s: "complaint"},
    "feedback.set_policy": {"kind": lambda s: "complaint"},
    "crisis.add_contact": {"kind": lambda s: "insurer", "name": lambda s: "Cathay"},
    "surveys.latest": {"name": lambda s: "After your visit"},
    "surveys.invite": {"visit_id": lambda s: s.ids["completed_visit_id"]},
    "crisis.set_member": {"name": lambda s: "Amy"},
    "incidents.draft": {"text": lambda s: "Refer calls to Amy."},
    "posts.schedule": {"channel": lambda s: "website"},
    "events.create": {"kind": lambda s: "health_talk", "title": lambda s: "Talk"},
    "visits.reschedule": {"starts_at": lambda s: T0 + timedelta(days=3)},
    "visits.complete": {"visit_id": lambda s: s.ids["arrived_visit_id"]},
    "visits.start_care": {"visit_id": lambda s: s.ids["arrived_visit_id"]},
    "events.register": {"patient_id": lambda s: s.ids["merge_id"]},
    "reputation.reply": {"text": lambda s: "Thank you for your kind words."},
}
#: Calls whose documented ``OSError`` is part of the contract (a file that cannot be read).
OS_ERRORS = {"patients.import_csv"}


def _facade_call(scope: Scope, call: str) -> Callable[..., Any]:
    group, name = call.split(".")
    return getattr(getattr(scope, group), name)  # type: ignore[no-any-return]


def _parameters(call: str) -> list[inspect.Parameter]:
    with ClinicCRM("sqlite://") as crm:
        return list(inspect.signature(_facade_call(crm, call)).parameters.values())


PARAMETERS = {call: _parameters(call) for call in CALLS}


#: Parameters naming a seeded row (``Seed.ids``).
ID_NAMES = frozenset(
    "clinic_id patient_id keep_id merge_id visit_id survey_id invitation_id response_id follow_up_id reminder_id "
    "case_id risk_id incident_id statement_id post_id mention_id alert_id event_id registration_id".split()
)


def _valid(call: str, parameter: str) -> Valid | None:
    found = VALID_FOR.get(call, {}).get(parameter) or VALID.get(parameter)
    if found is None and parameter in ID_NAMES:
        return lambda s: s.ids[parameter]
    return found


def _required(call: str) -> list[inspect.Parameter]:
    kinds = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    return [p for p in PARAMETERS[call] if p.default is inspect.Parameter.empty and p.kind not in kinds]


def _arguments(seed: Seed, call: str) -> tuple[list[Any], dict[str, Any]]:
    """Valid positional and keyword arguments of ``call`` (its required parameters only)."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for parameter in _required(call):
        make = _valid(call, parameter.name)
        assert make is not None, f"{call}: no valid value for {parameter.name}"
        value = make(seed)
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = value
        else:
            args.append(value)
    return args, kwargs


# ------------------------------------------------------------------------------------------------ hostile values

UNICODE = st.text(st.characters(codec=None), max_size=40)
NASTY_TEXT = st.one_of(
    UNICODE,
    st.builds(lambda a, b: a + "\ud800" + b, UNICODE, UNICODE),
    st.builds(lambda a, b: a + "\x00" + b, UNICODE, UNICODE),
    st.sampled_from(["", " ", "\udcff", "x" * 100_000, "陳" * 70_000, "en_US@" + "x" * 100, "localtime", "NaN"]),
)
EXTREME_DATETIMES = st.one_of(
    st.sampled_from(
        [
            datetime(1, 1, 1, tzinfo=UTC),
            datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=-23, minutes=-59))),
            datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=23, minutes=59))),
            datetime(1, 1, 1),
            datetime(9999, 12, 31),
            datetime(2026, 3, 2, 9),
        ]
    ),
    st.datetimes(timezones=st.one_of(st.none(), st.just(UTC), st.timezones())),
)
EXTREME_INTS = st.sampled_from([0, -1, 2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30])
WRONG_TYPES = st.sampled_from(
    [
        None,
        True,
        False,
        [],
        [1],
        ["x"],
        {},
        {"a": 1},
        {"a": {1}},
        {"a": float("nan")},
        {"\ud800": "x"},
        {1: 2},
        set(),
        Decimal("1.5"),
        Decimal("NaN"),
        Decimal("1e1000"),
        b"\xff\x00",
        bytearray(b"x"),
        float("nan"),
        float("inf"),
        -0.0,
        1e308,
        1.5,
        date(1, 1, 1),
        date(9999, 12, 31),
        time(23, 59, 59, 999999),
        time(1, tzinfo=UTC),
        timedelta(0),
        -timedelta(days=1),
        timedelta.max,
        timedelta.min,
        timedelta(microseconds=1),
        (),
        ("sms", "email"),
        object(),
    ]
)
HOSTILE = st.one_of(NASTY_TEXT, EXTREME_DATETIMES, EXTREME_INTS, WRONG_TYPES)
#: Keys an unknown or misspelt ``**fields`` argument may carry.
FIELD_NAMES = st.sampled_from(
    ["name", "timezone", "locale", "phone", "email", "family_name", "capacity", "id", "\ud800"]
)


@st.composite
def mutations(draw: st.DrawFn, call: str) -> tuple[str, Any]:
    """``(parameter, hostile value)`` for one parameter of ``call``; ``**fields`` calls may get an unknown key."""
    names = [p.name for p in PARAMETERS[call] if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    if not names:
        return "", None
    name = draw(st.sampled_from(names))
    if any(p.name == name and p.kind is inspect.Parameter.VAR_KEYWORD for p in PARAMETERS[call]):
        name = "**" + draw(FIELD_NAMES)
    return name, draw(HOSTILE)


# ---------------------------------------------------------------------------------------------------- checking


def checksum(conn: Connection) -> str:
    """A digest of every row of every table, in primary-key order."""
    digest = hashlib.blake2b(digest_size=16)
    for table in metadata.sorted_tables:
        digest.update(table.name.encode())
        for row in conn.execute(select(table).order_by(*table.primary_key.columns)):
            digest.update(repr(tuple(row)).encode("utf-8", "backslashreplace"))
    return digest.hexdigest()


def _invoke(scope: Scope, seed: Seed, call: str, mutation: tuple[str, Any]) -> None:
    args, kwargs = _arguments(seed, call)
    name, value = mutation
    if name.startswith("**"):
        kwargs[name[2:]] = value
    elif name:
        positional = [p.name for p in PARAMETERS[call] if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        if name in positional and positional.index(name) < len(args):
            args[positional.index(name)] = value
        else:
            kwargs[name] = value
    _facade_call(scope, call)(*args, **kwargs)


class _Rollback(Exception):
    """Ends an example's transaction: every example starts from the same seed."""


def _expected(call: str, mutation: tuple[str, Any]) -> tuple[type[BaseException], ...]:
    if call in OS_ERRORS and mutation[0] == "path":
        return (ClinicCRMError, OSError)
    return (ClinicCRMError,)


def check_one(seed: Seed, call: str, mutation: tuple[str, Any]) -> None:
    """Run ``call`` with one hostile argument; only typed errors escape and an error writes nothing."""
    crm = seed.crm
    expected = _expected(call, mutation)
    if call in OWN_COMMITS:
        with crm.engine.connect() as conn:
            before = checksum(conn)
        try:
            _invoke(crm, seed, call, mutation)
        except expected:
            with crm.engine.connect() as conn:
                assert checksum(conn) == before, f"{call} wrote after an error ({mutation[0]})"
        return
    try:
        with crm.transaction() as tx:
            assert tx.session is not None
            before = checksum(tx.session.connection())
            try:
                _invoke(tx, seed, call, mutation)
            except expected:
                assert checksum(tx.session.connection()) == before, f"{call} wrote after an error ({mutation[0]})"
            raise _Rollback
    except _Rollback:
        pass


DEEP = settings.get_current_profile_name() == "properties-deep"
EXAMPLES = settings(
    max_examples=settings.default.max_examples if DEEP else 4,
    deadline=None,
    derandomize=not DEEP,
    database=None if not DEEP else settings.default.database,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_every_public_call_is_enumerated() -> None:
    """The walk finds every group's calls, and every call's required arguments have a valid value."""
    with ClinicCRM("sqlite://") as crm:
        groups = {
            n
            for n, v in vars(crm).items()
            if not n.startswith("_") and type(v).__module__.startswith("clinic_crm.api.")
        }
    assert groups == set(GROUPS)
    assert len(CALLS) >= 138
    assert {"patients.register", "reminders.dispatch", "posts.publish_due", "surveys.submit"} <= set(CALLS)
    missing = [f"{c}:{p.name}" for c in CALLS for p in _required(c) if _valid(c, p.name) is None]
    assert missing == []


def test_the_seed_reaches_every_call(seed: Seed) -> None:
    """With valid arguments most calls succeed on the seed (so hostile examples reach deep code)."""
    failed = []
    for call in CALLS:
        if call in OWN_COMMITS:
            continue
        try:
            with seed.crm.transaction() as tx:
                try:
                    _invoke(tx, seed, call, ("", None))
                except ClinicCRMError as exc:
                    failed.append(f"{call}: {type(exc).__name__}")
                raise _Rollback
        except _Rollback:
            pass
    assert len(failed) <= len(CALLS) // 10, failed


@pytest.mark.parametrize("call", CALLS)
def test_hostile_arguments_raise_only_typed_errors_and_write_nothing(seed: Seed, call: str) -> None:
    @EXAMPLES
    @given(mutation=mutations(call))
    def run(mutation: tuple[str, Any]) -> None:
        check_one(seed, call, mutation)

    run()


#: One line each, the raw errors this suite found (``UnicodeEncodeError``, ``OverflowError``, ``TypeError``,
#: ``KeyError``, ``ValueError`` before the edge check of ``services/_common.check_arguments``).
FOUND = [
    ("patients.has_consent", ("patient_id", 2**63)),
    ("patients.has_consent", ("patient_id", [])),
    ("patients.has_consent", ("channel", "\ud800")),
    ("patients.has_consent", ("purpose", "nope")),
    ("reminders.list", ("clinic_id", 2**63)),
    ("reminders.replies", ("clinic_id", "\ud800")),
    ("reminders.replies", ("opt_out", 2**63)),
    ("surveys.latest", ("clinic_id", [])),
    ("visits.stats", ("clinic_id", 2**63)),
    ("audit.for_patient", ("patient_id", 2**63)),
    ("surveys.submit", ("token", "\ud800")),
    ("patients.register", ("external_id", "\ud800")),
    ("incidents.declare", ("risk_ids", [2**63])),
    ("events.invite", ("patient_ids", [2**63])),
    ("patients.import_rows", ("progress", "")),
    ("patients.import_csv", ("encoding", "\ud800")),
    ("patients.import_csv", ("encoding", "\x00")),
    ("patients.import_csv", ("path", "\ud800")),
    ("patients.import_csv", ("path", "\x00")),
]


@pytest.mark.parametrize(("call", "mutation"), FOUND, ids=[f"{c}-{m[0]}" for c, m in FOUND])
def test_found_failures_are_typed_errors(seed: Seed, call: str, mutation: tuple[str, Any]) -> None:
    try:
        with seed.crm.transaction() as tx:
            with pytest.raises(ClinicCRMError):
                _invoke(tx, seed, call, mutation)
            raise _Rollback
    except _Rollback:
        pass
    check_one(seed, call, mutation)
