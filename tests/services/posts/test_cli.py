"""``clinic-crm posts publish|list`` in-process on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from clinic_crm import ClinicCRM
from clinic_crm.cli import main
from clinic_crm.messaging.outbox import read_outbox
from clinic_crm.models import Clinic
from tests.conftest import T0

from .factories import open_incident

NOW_ARG = "2026-03-02T17:00:00+08:00"  # T0


def test_publish_to_the_outbox_prints_the_counts(
    crm: ClinicCRM, clinic: Clinic, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    post = crm.posts.schedule(clinic.id, channel="website", text="每天刷牙兩次", publish_at=T0 - timedelta(minutes=1))
    crm.posts.schedule(clinic.id, channel="website", text="later", publish_at=T0 + timedelta(days=1))
    outbox = tmp_path / "posts.jsonl"

    code = main(
        ["posts", "publish", "--db", db_url, "--publisher", "outbox", "--outbox", str(outbox), "--now", NOW_ARG]
    )

    assert code == 0
    out = capsys.readouterr().out
    assert "published   1" in out and "failed      0" in out
    assert [(r["post_id"], r["text"]) for r in read_outbox(outbox)] == [(post.id, "每天刷牙兩次")]
    assert crm.posts.get(post.id).status == "published"

    assert main(["posts", "publish", "--db", db_url, "--outbox", str(outbox), "--now", NOW_ARG, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "published": 0,
        "held": 0,
        "failed": 0,
        "gave_up": 0,
        "claimed": 0,
        "fenced": 0,
    }


def test_held_posts_are_reported(
    crm: ClinicCRM, clinic: Clinic, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=T0)
    open_incident(crm, clinic.id)
    code = main(["posts", "publish", "--db", db_url, "--outbox", str(tmp_path / "p.jsonl"), "--now", NOW_ARG])
    assert code == 0
    assert "held        1" in capsys.readouterr().out


def test_a_failed_attempt_exits_1(crm: ClinicCRM, clinic: Clinic, db_url: str, gateway) -> None:  # type: ignore[no-untyped-def]
    crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=T0)
    gateway.answer(503)
    args = ["posts", "publish", "--db", db_url, "--publisher", "webhook", "--url", gateway.url, "--now", NOW_ARG]
    assert main(args) == 1
    assert len(gateway.requests) == 1


def test_webhook_without_a_url_is_a_usage_error(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["posts", "publish", "--db", db_url, "--publisher", "webhook"]) == 2
    assert "--url" in capsys.readouterr().err


def test_list_prints_one_line_per_post_without_text(
    crm: ClinicCRM, clinic: Clinic, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first = crm.posts.schedule(clinic.id, channel="website", text="secret draft", publish_at=T0)
    second = crm.posts.schedule(
        clinic.id, channel="facebook", text="x", publish_at=T0 + timedelta(days=1), kind="event"
    )
    crm.posts.cancel(second.id, at=T0, by="manager")

    assert main(["posts", "list", "--db", db_url, "--clinic", str(clinic.id)]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 2 and "secret draft" not in out
    assert "scheduled" in out and "cancelled" in out

    assert main(["posts", "list", "--db", db_url, "--clinic", str(clinic.id), "--status", "scheduled", "--json"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row == {
        "id": first.id,
        "status": "scheduled",
        "publish_at": T0.isoformat(),
        "kind": "health_education",
        "channel": "website",
        "attempts": 0,
    }


def test_list_of_an_unknown_clinic_exits_2(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["posts", "list", "--db", db_url, "--clinic", "999"]) == 2
    assert "NotFound" in capsys.readouterr().err
