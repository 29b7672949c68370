"""Survey responses as a tidy pandas DataFrame, for notebooks.

One Core ``SELECT`` (responses ⋈ visits ⟕ answers, one row per answer) runs on the raw DBAPI
cursor of the session's connection; ``fetchall``'s rows are split into columns that go straight
into numpy/pandas and are pivoted to one row per response.  No ORM objects are built, and no patient data is read:
the frame holds answers, when, which clinic, the visit's kind and practitioner — never names
or contact details.

pandas is an optional dependency (``pip install 'clinic-crm[analysis]'``), imported on first use.
"""

from __future__ import annotations

from datetime import datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from clinic_crm.api._unit import reads
from clinic_crm.models import UTCDateTime, metadata
from clinic_crm.services.aggregates import optional_id
from clinic_crm.values import aware

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["survey_frame", "frame_query", "require_pandas", "FIXED_COLUMNS"]

#: The columns every frame has, besides one per question key (the index is ``response_id``).
FIXED_COLUMNS = ("answered_at", "clinic_id", "survey_id", "visit_kind", "practitioner")

_INSTALL_HINT = "pip install 'clinic-crm[analysis]'"


def require_pandas() -> ModuleType:
    """Import pandas, or raise ``ImportError`` telling how to install the analysis extra."""
    try:
        import pandas
    except ImportError as exc:
        raise ImportError(f"survey frames need pandas, an optional dependency: {_INSTALL_HINT}") from exc
    return pandas


def frame_query(
    *,
    clinic_id: int | None = None,
    survey_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[Any]:
    """The one query behind :func:`survey_frame`: one row per answer, ordered by response.

    Columns: ``response_id, answered_at, clinic_id, survey_id, visit_kind, practitioner,
    question_key, question_type, int_value, text_value`` (the answer columns are NULL for a
    response without answers).

    Raises:
        NaiveDatetimeError, ValidationError: as :func:`survey_frame`.
    """
    r, v, a = metadata.tables["response"], metadata.tables["visit"], metadata.tables["answer"]
    stmt = (
        select(
            r.c.id.label("response_id"),
            r.c.answered_at,
            r.c.clinic_id,
            r.c.survey_id,
            v.c.kind.label("visit_kind"),
            v.c.practitioner,
            a.c.question_key,
            a.c.question_type,
            a.c.int_value,
            a.c.text_value,
        )
        .select_from(r.join(v, v.c.id == r.c.visit_id).outerjoin(a, a.c.response_id == r.c.id))
        .order_by(r.c.id)
    )
    if optional_id(clinic_id, "clinic_id") is not None:
        stmt = stmt.where(r.c.clinic_id == clinic_id)
    if optional_id(survey_id, "survey_id") is not None:
        stmt = stmt.where(r.c.survey_id == survey_id)
    if since is not None:
        stmt = stmt.where(r.c.answered_at >= aware(since, "since"))
    if until is not None:
        stmt = stmt.where(r.c.answered_at < aware(until, "until"))
    return stmt


def fetch_rows(session: Session, stmt: Select[Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a Core statement on the raw DBAPI cursor of the session's connection.

    Bound datetimes are converted as the column type would (naive UTC text on SQLite); the
    rows come back exactly as the driver returns them.

    Returns:
        The column names and the rows.
    """
    conn = session.connection()
    dialect = conn.dialect
    compiled = stmt.compile(dialect=dialect)
    params = dict(compiled.params)
    to_db = UTCDateTime().bind_processor(dialect)
    for name, value in params.items():
        if isinstance(value, datetime) and to_db is not None:
            params[name] = to_db(value)
    sql = str(compiled)
    bound: Any = params
    if compiled.positiontup is not None:  # qmark / numeric paramstyles
        bound = [params[name] for name in compiled.positiontup]
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        cursor.execute(sql, bound)
        names = [d[0] for d in cursor.description]
        rows = list(cursor.fetchall())
    finally:
        cursor.close()
    return names, rows


def pivot(names: list[str], rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Turn the one-row-per-answer rows of :func:`frame_query` into a DataFrame, one row per response.

    The rows are copied once into an object matrix and each column goes into numpy/pandas
    with the dtype it needs, so no generic object inference runs over the whole result.
    nps and rating keys become nullable integer columns (``Int64``), choice and text keys
    string columns; ``answered_at`` becomes ``datetime64[us, UTC]``; ``visit_kind`` and
    ``practitioner`` become categoricals.  Question columns follow the fixed ones, sorted by key;
    a key that clashes with a fixed column name gets the suffix ``"_answer"``.
    """
    pandas: Any = require_pandas()
    import numpy as np

    table = np.empty((len(rows), len(names)), dtype=object)
    if rows:
        table[:] = rows  # one C-level copy of the fetched tuples into an object matrix
    columns = {name: table[:, j] for j, name in enumerate(names)}
    response_id = columns["response_id"].astype("int64")
    first = np.ones(len(rows), dtype=bool)
    if len(rows):
        first[1:] = response_id[1:] != response_id[:-1]
    position = np.cumsum(first) - 1  # the response row of each answer row
    n = int(first.sum())

    def firsts(name: str) -> Any:
        return columns[name][first]

    out = pandas.DataFrame(index=pandas.Index(response_id[first], name="response_id"))
    answered = pandas.to_datetime(firsts("answered_at"), utc=True, format="ISO8601")
    out["answered_at"] = answered.astype("datetime64[us, UTC]")
    out["clinic_id"] = firsts("clinic_id").astype("int64")
    out["survey_id"] = firsts("survey_id").astype("int64")
    out["visit_kind"] = pandas.Categorical(firsts("visit_kind"))
    out["practitioner"] = pandas.Categorical(firsts("practitioner"))

    codes, uniques = pandas.factorize(columns["question_key"], use_na_sentinel=True)
    types = columns["question_type"]
    ints = columns["int_value"].astype("float64")  # None -> NaN
    texts = columns["text_value"]
    for code in sorted(range(len(uniques)), key=lambda i: str(uniques[i])):
        key = str(uniques[code])
        mask = codes == code
        where = position[mask]
        column = key if key not in out.columns else f"{key}_answer"
        if set(types[mask].tolist()) <= {"nps", "rating"}:
            got = ints[mask]
            ok = ~np.isnan(got)
            values = np.zeros(n, dtype="int64")
            valid = np.zeros(n, dtype=bool)
            values[where[ok]] = got[ok].astype("int64")
            valid[where[ok]] = True
            out[column] = pandas.arrays.IntegerArray(values, ~valid)
        else:
            col = np.full(n, None, dtype=object)
            got = ints[mask]
            col[where] = np.where(np.isnan(got), texts[mask], got.astype(object))
            out[column] = col
    result: pd.DataFrame = out
    return result


@reads
def survey_frame(
    session: Session,
    *,
    clinic_id: int | None = None,
    survey_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pd.DataFrame:
    """The responses answered in ``[since, until)`` as a DataFrame, one row per response.

    Args:
        clinic_id, survey_id: restrict to one clinic / one survey version.
        since, until: aware datetimes bounding ``answered_at``.

    Returns:
        A DataFrame indexed by ``response_id`` with ``answered_at`` (aware UTC), ``clinic_id``,
        ``survey_id``, ``visit_kind`` and ``practitioner`` (categorical), then one column per
        question key (nps and rating as ``Int64``, choice and text as objects; see :func:`pivot`).  No patient
        names or contact data.

    Raises:
        ImportError: pandas is not installed (``pip install 'clinic-crm[analysis]'``).
        NaiveDatetimeError: ``since``/``until`` without a time zone.
        ValidationError: a malformed id.
    """
    require_pandas()  # fail before querying when pandas is missing
    stmt = frame_query(clinic_id=clinic_id, survey_id=survey_id, since=since, until=until)
    names, rows = fetch_rows(session, stmt)
    return pivot(names, rows)
