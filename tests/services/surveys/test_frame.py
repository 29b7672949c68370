"""frame() and plot_nps(): the notebook helpers, on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import event

from clinic_crm import ClinicCRM, NaiveDatetimeError, ValidationError
from clinic_crm.models import Clinic
from clinic_crm.services.surveys.frame import FIXED_COLUMNS, require_pandas
from clinic_crm.services.surveys.plot import nps_figure
from clinic_crm.services.surveys.stats import NpsResult
from tests.services.surveys.stats_factory import Resp, make_survey, seed

T = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


def _cid(clinic: Clinic) -> int:
    assert clinic.id is not None
    return clinic.id


def test_frame_has_one_row_per_response_and_one_column_per_question(crm: ClinicCRM, clinic: Clinic) -> None:
    c = _cid(clinic)
    seed(
        crm.engine,
        [
            Resp(c, T, nps=10, rating=5, choice="yes", comment="很好", practitioner="Dr Lin", kind="checkup"),
            Resp(c, T + timedelta(hours=1), nps=0, practitioner=None, kind="vaccine"),
            Resp(c, T + timedelta(hours=2), answered=False),  # an invitation only: no row
            Resp(c, T + timedelta(hours=3)),  # a response without any answer still has its row
        ],
    )
    df = crm.surveys.frame()
    assert len(df) == 3
    assert df.index.name == "response_id" and df.index.is_unique
    assert list(df.columns[: len(FIXED_COLUMNS)]) == list(FIXED_COLUMNS)
    assert set(df.columns) == {*FIXED_COLUMNS, "recommend", "overall", "visit_again", "comment"}
    assert str(df["answered_at"].dt.tz) == "UTC"
    assert df["answered_at"].tolist() == [
        pd.Timestamp(T),
        pd.Timestamp(T + timedelta(hours=1)),
        pd.Timestamp(T + timedelta(hours=3)),
    ]
    assert isinstance(df["visit_kind"].dtype, pd.CategoricalDtype)
    assert isinstance(df["practitioner"].dtype, pd.CategoricalDtype)
    assert str(df["recommend"].dtype) == "Int64" and str(df["overall"].dtype) == "Int64"
    assert df["recommend"].tolist()[:2] == [10, 0] and df["recommend"].isna().tolist() == [False, False, True]
    assert df["comment"].iloc[0] == "很好" and df["comment"].isna().tolist() == [False, True, True]
    assert df["visit_again"].iloc[0] == "yes"
    assert df["practitioner"].iloc[0] == "Dr Lin" and pd.isna(df["practitioner"].iloc[1])
    assert set(df["clinic_id"]) == {c}


def test_frame_holds_no_patient_data(crm: ClinicCRM, clinic: Clinic) -> None:
    seed(crm.engine, [Resp(_cid(clinic), T, nps=9)])
    df = crm.surveys.frame()
    text = df.to_csv()
    assert "Test" not in text and "Patient" not in text  # the factory's patient names
    assert not {"patient_id", "family_name", "given_name", "phone", "email"} & set(df.columns)


def test_frame_filters(crm: ClinicCRM, clinic: Clinic) -> None:
    c = _cid(clinic)
    other = _cid(crm.clinics.create("Other", timezone="Europe/London", locale="en_GB", region="GB"))
    seed(crm.engine, [Resp(c, T, nps=1), Resp(c, T + timedelta(days=1), nps=2), Resp(other, T, nps=3)])
    second = make_survey(crm.engine, c, name="Second")
    seed(crm.engine, [Resp(c, T, nps=4, survey=second)])
    assert sorted(crm.surveys.frame(clinic_id=c)["recommend"].tolist()) == [1, 2, 4]
    assert crm.surveys.frame(survey_id=second)["recommend"].tolist() == [4]
    assert sorted(crm.surveys.frame(since=T + timedelta(hours=1))["recommend"].tolist()) == [2]
    assert sorted(crm.surveys.frame(until=T + timedelta(hours=1))["recommend"].tolist()) == [1, 3, 4]
    with pytest.raises(NaiveDatetimeError):
        crm.surveys.frame(since=datetime(2026, 3, 1))
    with pytest.raises(ValidationError):
        crm.surveys.frame(clinic_id="1")  # type: ignore[arg-type]


def test_empty_frame_keeps_its_columns_and_types(crm: ClinicCRM, clinic: Clinic) -> None:
    df = crm.surveys.frame()
    assert len(df) == 0 and list(df.columns) == list(FIXED_COLUMNS)
    assert str(df["answered_at"].dt.tz) == "UTC"


def test_frame_is_one_query_on_the_raw_cursor(crm: ClinicCRM, clinic: Clinic) -> None:
    seed(crm.engine, [Resp(_cid(clinic), T, nps=9, rating=4) for _ in range(3)])
    selects: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(crm.engine, "before_cursor_execute", record)
    try:
        df = crm.surveys.frame()
    finally:
        event.remove(crm.engine, "before_cursor_execute", record)
    assert len(df) == 3
    assert selects == []  # no SQLAlchemy-executed SELECT: the one query went through the DBAPI cursor


def test_missing_pandas_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install 'clinic-crm\[analysis\]'"):
        require_pandas()


def test_missing_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'clinic-crm\[analysis\]'"):
        nps_figure({})


def test_plot_nps_draws_months_with_error_bars(crm: ClinicCRM, clinic: Clinic, tmp_path: Path) -> None:
    c = _cid(clinic)
    seed(
        crm.engine,
        [Resp(c, T, nps=v) for v in (10, 9, 8, 3, 10)] + [Resp(c, T + timedelta(days=31), nps=10)],
    )
    fig = crm.surveys.plot_nps(min_responses=5)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2026-03", "2026-04"]
    assert len(ax.containers) == 1  # one errorbar series: March only, April is suppressed
    line = ax.lines[0]
    assert list(line.get_ydata()) == [pytest.approx(40.0)]
    texts = [t.get_text() for t in ax.texts]
    assert "n=5" in texts and "n=1" in texts  # every month says how many answered
    assert "too few\nto score" in texts  # the suppressed month never reads as an NPS of 0
    assert ax.get_title() == "all clinics · months with fewer than 5 responses get no score"
    named = crm.surveys.plot_nps(clinic_id=c, min_responses=5, since=T - timedelta(days=1))
    assert named.axes[0].get_title().startswith("Sunrise Dental · 2026-")
    out = tmp_path / "nps.png"
    fig.savefig(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_nps_figure_of_nothing_is_an_empty_chart() -> None:
    fig = nps_figure({})
    assert len(fig.axes[0].lines) == 1 and not fig.axes[0].containers  # only the zero line
    fig2 = nps_figure({"2026-01": NpsResult(None, 0, 0, 0, 0, None)})
    assert [t.get_text() for t in fig2.axes[0].texts] == ["too few\nto score", "n=0"]
