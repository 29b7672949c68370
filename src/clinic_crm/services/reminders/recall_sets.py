"""Set-based recalls: the care plans whose ``every`` is a text interval (``"6 months"``, ``"2 weeks"``), in SQL.

Their due time is computed by the database, equal to :func:`~clinic_crm.services.reminders.recalls.recall_due`:
the last completed visit's instant is moved to the patient's local wall clock (offsets from
:mod:`.zone_offsets`), the months are added with the month-end clamping of ``relativedelta`` (31 January + 1
month = 28/29 February), then the days, and the wall time goes back to UTC as ``zoneinfo`` resolves it (``fold=0``).

A fixed number of statements, whatever the number of plans: one read of the distinct (``every``, time zone)
pairs of the active plans, one ``INSERT … SELECT`` of each plan's wanted recall into a temporary table, one
``UPDATE … FROM`` that cancels the pending recalls a plan no longer wants (``satisfied`` by a booking, or
``superseded``) and revives those a vanished booking wants back, and one ``INSERT … SELECT … ON CONFLICT DO
NOTHING`` of the wanted ones.  An idempotent run changes no reminder.  RRULE plans, plans whose ``every``
does not parse and anchors before :data:`~.zone_offsets.EARLIEST` are left to the Python batches of :mod:`.recalls`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from clinic_crm.errors import ValidationError
from clinic_crm.models._base import UTCDateTime
from clinic_crm.services.reminders._tables import t_care_plan, t_patient, t_reminder, t_visit
from clinic_crm.services.reminders.rows import bound, insert_select, reminder_values, text_of
from clinic_crm.services.reminders.scheduling import parse_every
from clinic_crm.services.reminders.zone_offsets import EARLIEST, offset_at_utc, offset_at_wall

__all__ = ["TextPlans", "text_plans", "plan_text_recalls", "due_columns"]


@dataclass(frozen=True, slots=True)
class TextPlans:
    """The text intervals of the active plans, as (months, days) each, and the time zones of their patients."""

    steps: dict[str, tuple[int, int]]
    zones: list[str]


#: The wanted recall of each text plan, computed once per ``plan``: a temporary table (dropped at commit too).
_WANTED = Table(
    "recall_wanted",
    MetaData(),
    Column("plan_id", Integer, nullable=False),
    Column("patient_id", Integer, nullable=False),
    Column("kind", String(100), nullable=False),
    Column("channel", String(10)),
    Column("satisfied", Boolean),
    Column("due", UTCDateTime()),
    Column("plan_key", String(200)),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


@lru_cache(maxsize=4096)
def _step(every: str) -> tuple[int, int] | None:
    """(months, days) of a text interval; ``None`` for an RRULE or text that does not parse."""
    try:
        parsed = parse_every(every)
    except ValidationError:
        return None
    if parsed.delta is None:
        return None
    return parsed.delta.years * 12 + parsed.delta.months, parsed.delta.days


def text_plans(session: Session) -> TextPlans:
    """One read of the distinct (``every``, patient time zone) pairs of the active care plans."""
    steps: dict[str, tuple[int, int]] = {}
    zones: set[str] = set()
    for every, timezone in session.execute(
        select(t_care_plan.c.every, t_patient.c.timezone)
        .join(t_patient, t_patient.c.id == t_care_plan.c.patient_id)
        .where(t_care_plan.c.active.is_(True))
        .distinct()
    ):
        step = _step(every)
        if step is not None:
            steps[every] = step
            zones.add(timezone)
    return TextPlans(steps=steps, zones=sorted(zones))


def _per_every(every: ColumnElement[str], steps: dict[str, tuple[int, int]], part: int) -> ColumnElement[Any]:
    return case({text_: literal_column(str(step[part])) for text_, step in steps.items()}, value=every)


def _latest(column: Any, *statuses: str) -> ColumnElement[Any]:
    """The plan's latest ``column`` over the patient's visits of its ``after_visit_kind`` in ``statuses``."""
    return (
        select(func.max(column))
        .where(
            t_visit.c.patient_id == t_care_plan.c.patient_id,
            t_visit.c.kind == t_care_plan.c.after_visit_kind,
            t_visit.c.status.in_(statuses),
        )
        .scalar_subquery()
    )


def _stage(query: Select[Any], name: str) -> CTE:
    """``query`` as a CTE computed once (``MATERIALIZED``) and written inside the statement that uses it."""
    return query.cte(name, nesting=True).prefix_with("MATERIALIZED")


def due_columns(
    dialect: str, anchors: CTE, zones: list[str], until: datetime
) -> tuple[CTE, ColumnElement[Any], ColumnElement[Any]]:
    """The due instant (stored form) and its epoch seconds of each row of ``anchors`` (columns ``done``, an
    instant; ``timezone``; ``months``; ``days``), for rows whose due instant is at most a day past ``until``.

    Returns a CTE over ``anchors`` (its columns plus the wall time) and the two expressions over that CTE.
    """
    done = anchors.c.done
    if dialect == "postgresql":
        epoch: ColumnElement[Any] = func.floor(func.extract("epoch", done))
        local = func.timezone("UTC", done) + func.make_interval(
            0, 0, 0, 0, 0, 0, offset_at_utc(epoch, anchors.c.timezone, zones, until)
        )
        wall_time = local + func.make_interval(0, anchors.c.months, 0, anchors.c.days)
        walls = _stage(select(anchors, wall_time.label("wall")), "recall_wall")
        wall = walls.c.wall
        wall_epoch: ColumnElement[Any] = func.extract("epoch", wall)
        back = offset_at_wall(wall_epoch, walls.c.timezone, zones, until)
        due: ColumnElement[Any] = func.timezone("UTC", wall - func.make_interval(0, 0, 0, 0, 0, 0, back))
        return walls, due, cast(func.trunc(func.extract("epoch", due)), BigInteger)  # as int() truncates
    # SQLite: stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC); whole seconds here, the fraction carried as text
    seconds = cast(func.strftime("%s", func.substr(done, 1, 19)), Integer)
    utc = _stage(select(anchors, seconds.label("utc")), "recall_utc")
    local = utc.c.utc + offset_at_utc(utc.c.utc, utc.c.timezone, zones, until)
    local_epoch = _stage(select(utc, local.label("local")), "recall_local")
    at = local_epoch.c.local
    month = func.date(at, "unixepoch", "start of month", literal("+") + text_of(local_epoch.c.months) + " months")
    month_days = cast(func.strftime("%d", month, "+1 month", "-1 day"), Integer)
    day = cast(func.strftime("%d", at, "unixepoch"), Integer)
    of_day = at - cast(func.strftime("%s", func.date(at, "unixepoch")), Integer)
    wall_epoch = (
        cast(func.strftime("%s", month), Integer)
        + (func.min(day, month_days) - 1) * 86_400
        + of_day
        + local_epoch.c.days * 86_400
    )
    walls = _stage(select(local_epoch, wall_epoch.label("wall")), "recall_wall")
    due_epoch = walls.c.wall - offset_at_wall(walls.c.wall, walls.c.timezone, zones, until)
    fraction = func.substr(walls.c.done, 20, type_=String)
    due = func.strftime("%Y-%m-%d %H:%M:%S", due_epoch, "unixepoch", type_=String).op("||")(fraction)
    # int(datetime.timestamp()) truncates toward zero: a fraction before 1970 rounds the seconds up
    return walls, due, due_epoch + case((and_(due_epoch < 0, fraction != ".000000"), 1), else_=0)


def plan_text_recalls(session: Session, plans: TextPlans, now: datetime, until: datetime) -> int:
    """Cancel, revive and insert the recalls of the active text-interval plans; return how many became pending."""
    if not plans.steps:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # the per-plan visit lookups push the estimate past jit_above_cost: compiling would cost more than running
        session.execute(text("SET LOCAL jit = off"))
    query = (
        select(
            t_care_plan.c.id.label("plan_id"),
            t_care_plan.c.patient_id,
            t_care_plan.c.kind,
            t_care_plan.c.channel,
            t_patient.c.timezone,
            _per_every(t_care_plan.c.every, plans.steps, 0).label("months"),
            _per_every(t_care_plan.c.every, plans.steps, 1).label("days"),
            _latest(t_visit.c.completed_at, "completed").label("done"),
            _latest(t_visit.c.starts_at, "booked", "checked_in").label("booked"),
        )
        .join(t_patient, t_patient.c.id == t_care_plan.c.patient_id)
        .where(
            t_care_plan.c.active.is_(True),
            t_care_plan.c.every.in_(list(plans.steps)),
            t_patient.c.timezone.in_(plans.zones),
        )
    )
    anchors = _stage(query, "recall_anchor")
    walls, due, due_epoch = due_columns(dialect, anchors, plans.zones, until)
    start = bound(EARLIEST, UTCDateTime(), dialect)
    satisfied = and_(walls.c.booked.is_not(None), walls.c.booked > walls.c.done)
    wanted_key = case(
        (
            and_(walls.c.done.is_not(None), ~satisfied, due <= bound(until, UTCDateTime(), dialect)),
            literal("recall:") + text_of(walls.c.plan_id) + literal(":") + text_of(due_epoch),
        ),
    )
    query = select(
        walls.c.plan_id,
        walls.c.patient_id,
        walls.c.kind,
        walls.c.channel,
        satisfied.label("satisfied"),
        due.label("due"),
        wanted_key.label("plan_key"),
    ).where(or_(walls.c.done.is_(None), walls.c.done >= start))  # older anchors: Python (no offsets in SQL)
    # computed once into a temporary table, then read by the UPDATE and the INSERT (rolled back with the rest)
    bind = session.connection()
    _WANTED.create(bind)
    session.execute(insert(_WANTED).from_select([c.name for c in _WANTED.columns], query))
    if dialect == "postgresql":
        session.execute(text(f"ANALYZE {_WANTED.name}"))
    made = _settle(session, _WANTED, dialect)
    values = reminder_values(
        clinic_id=t_patient.c.clinic_id,
        patient_id=_WANTED.c.patient_id,
        care_plan_id=_WANTED.c.plan_id,
        kind=_WANTED.c.kind,
        purpose="care",
        channel=_WANTED.c.channel,
        due_at=_WANTED.c.due,
        plan_key=_WANTED.c.plan_key,
        payload={"template": "recall"},
        created_at=now,
        idempotency_key=None,
    )
    source = _WANTED.join(t_patient, t_patient.c.id == _WANTED.c.patient_id)
    made += insert_select(session, values, source, _WANTED.c.plan_key.is_not(None))
    _WANTED.drop(bind)  # on an error the rollback drops it
    return made


def _settle(session: Session, wanted: Table, dialect: str) -> int:
    """One ``UPDATE … FROM``: cancel the pending recalls a plan does not want, revive the wanted ones a booking
    had satisfied; return how many were revived."""
    r = t_reminder.c
    # SQLite: status inside a function, so it does not walk every pending row through the status index
    pending = r.status == "pending" if dialect == "postgresql" else func.coalesce(r.status, "") == "pending"
    unwanted = or_(wanted.c.plan_key.is_(None), r.plan_key.is_(None), r.plan_key != wanted.c.plan_key)
    revived = and_(r.status == "cancelled", r.suppressed_reason == "satisfied", r.plan_key == wanted.c.plan_key)
    statement = (
        update(t_reminder)
        .where(r.care_plan_id == wanted.c.plan_id, or_(and_(pending, unwanted), revived))
        .values(
            status=case((pending, "cancelled"), else_="pending"),
            suppressed_reason=case((pending, case((wanted.c.satisfied, "satisfied"), else_="superseded")), else_=None),
        )
        .returning(r.status)
    )
    moved = session.execute(statement, execution_options={"synchronize_session": False}).scalars().all()
    return sum(1 for status in moved if status == "pending")
