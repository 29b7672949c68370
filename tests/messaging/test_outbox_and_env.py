"""OutboxSender, ConsoleSender, NullSender, ChannelRouter and sender_from_env."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
from pathlib import Path

import pytest

from clinic_crm.errors import DeliveryError, ValidationError
from clinic_crm.messaging.http_sms import HttpSmsSender
from clinic_crm.messaging.outbox import ConsoleSender, NullSender, OutboxSender, mask_address, read_outbox
from clinic_crm.messaging.senders import ChannelRouter, close_sender, sender_from_env
from clinic_crm.messaging.smtp import SmtpSender

from .conftest import make_message


def test_outbox_appends_json_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="clinic_crm")
    path = tmp_path / "sub" / "outbox.jsonl"
    sender = OutboxSender(path)
    assert sender.send(make_message(key="k-1", reminder_id=1)) == "outbox:k-1"
    assert sender.send(make_message(channel="sms", to="+886912345678", key="k-2", reminder_id=2)) == "outbox:k-2"

    records = list(read_outbox(path))
    assert [(r["reminder_id"], r["idempotency_key"], r["channel"]) for r in records] == [
        (1, "k-1", "email"),
        (2, "k-2", "sms"),
    ]
    assert records[1]["to"] == "+886912345678"
    assert records[0]["body"].startswith("王小明")  # UTF-8 kept, not escaped away
    assert "王小明" in path.read_text(encoding="utf-8")
    assert "k-1" in caplog.text
    assert "王小明" not in caplog.text and "+886912345678" not in caplog.text


def test_outbox_lines_stay_whole_with_concurrent_writers(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    senders = [OutboxSender(path) for _ in range(4)]  # separate instances: only the file lock protects them

    def write(index: int) -> None:
        for n in range(100):
            senders[index].send(make_message(key=f"k-{index}-{n}", reminder_id=index * 1000 + n))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 400
    assert len({json.loads(line)["idempotency_key"] for line in lines}) == 400


def test_outbox_directory_writes_one_file_per_key(tmp_path: Path) -> None:
    folder = tmp_path / "box"
    folder.mkdir()
    sender = OutboxSender(folder)
    assert sender.per_message
    sender.send(make_message(key="k/1", reminder_id=1))
    sender.send(make_message(key="k/1", reminder_id=1))  # the same message handed over twice
    sender.send(make_message(key="k-2", reminder_id=2))
    hashed = hashlib.sha256(b"k/1").hexdigest()
    assert sorted(p.name for p in folder.iterdir()) == sorted([f"{hashed}.json", "k-2.json"])
    assert sorted(r["reminder_id"] for r in read_outbox(folder)) == [1, 2]


def test_outbox_trailing_slash_means_directory(tmp_path: Path) -> None:
    sender = OutboxSender(f"{tmp_path}/new-box/")
    sender.send(make_message(key="k-1"))
    assert (tmp_path / "new-box" / "k-1.json").is_file()


def test_outbox_that_cannot_be_written_is_retryable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DeliveryError) as info:
        OutboxSender(blocker / "outbox.jsonl").send(make_message())
    assert info.value.retryable is True


def test_outbox_needs_a_path() -> None:
    with pytest.raises(ValidationError):
        OutboxSender("")


def test_console_masks_the_address() -> None:
    out = io.StringIO()
    ConsoleSender(out).send(make_message(channel="sms", to="+886912345678", key="k-c"))
    text = out.getvalue()
    assert "+886912345678" not in text
    assert "+8869******78" in text
    assert "王小明" in text
    quiet = io.StringIO()
    assert ConsoleSender(quiet, show_body=False).send(make_message(key="k-d")) == "console:k-d"
    assert "王小明" not in quiet.getvalue() and "w***@example.com" in quiet.getvalue()


@pytest.mark.parametrize(
    ("address", "masked"), [("+886912345678", "+8869******78"), ("ming@example.com", "m***@example.com"), ("12", "**")]
)
def test_mask_address(address: str, masked: str) -> None:
    assert mask_address(address) == masked


def test_null_sender_counts() -> None:
    sender = NullSender()
    assert sender.send(make_message(key="k-n")) == "null:k-n"
    assert sender.count == 1


def test_router_sends_by_channel_and_refuses_unknown() -> None:
    email, sms = NullSender(), NullSender()
    router = ChannelRouter({"email": email, "sms": sms})
    router.send(make_message(channel="sms", to="+886912345678"))
    assert (email.count, sms.count) == (0, 1)
    with pytest.raises(DeliveryError) as info:
        ChannelRouter({"email": email}).send(make_message(channel="sms", to="+886912345678"))
    assert info.value.retryable is False
    with pytest.raises(ValidationError):
        ChannelRouter({})


def test_from_env_defaults_to_outbox(tmp_path: Path) -> None:
    sender = sender_from_env(environ={"CLINIC_CRM_OUTBOX": str(tmp_path / "o.jsonl")})
    assert isinstance(sender, OutboxSender) and sender.path == tmp_path / "o.jsonl"
    assert isinstance(sender_from_env(environ={}), OutboxSender)
    assert isinstance(sender_from_env("null", environ={"CLINIC_CRM_SENDER": "smtp"}), NullSender)  # name wins
    assert isinstance(sender_from_env(environ={"CLINIC_CRM_SENDER": " Console "}), ConsoleSender)


def test_from_env_smtp() -> None:
    env = {
        "CLINIC_CRM_SENDER": "smtp",
        "CLINIC_CRM_SMTP_HOST": "smtp.example.com",
        "CLINIC_CRM_SMTP_FROM": "no-reply@clinic.example",
        "CLINIC_CRM_SMTP_USER": "bot",
        "CLINIC_CRM_SMTP_PASSWORD": "pw",
    }
    sender = sender_from_env(environ=env)
    assert isinstance(sender, SmtpSender)
    assert (sender.host, sender.port, sender.starttls, sender.use_ssl, sender.username) == (
        "smtp.example.com",
        587,
        True,
        False,
        "bot",
    )
    ssl_sender = sender_from_env(environ=env | {"CLINIC_CRM_SMTP_SSL": "1", "CLINIC_CRM_SMTP_STARTTLS": "0"})
    assert isinstance(ssl_sender, SmtpSender) and (ssl_sender.port, ssl_sender.use_ssl) == (465, True)
    plain = sender_from_env(
        environ={k: v for k, v in env.items() if "USER" not in k and "PASSWORD" not in k}
        | {"CLINIC_CRM_SMTP_STARTTLS": "0", "CLINIC_CRM_SMTP_PORT": "2525"}
    )
    assert isinstance(plain, SmtpSender) and (plain.port, plain.starttls) == (2525, False)
    close_sender(plain)  # no connection yet: closing is a no-op


def test_from_env_http_sms() -> None:
    sender = sender_from_env(
        "http-sms", environ={"CLINIC_CRM_SMS_URL": "https://sms.example.com/v1", "CLINIC_CRM_SMS_TIMEOUT": "3.5"}
    )
    assert isinstance(sender, HttpSmsSender) and sender.timeout == 3.5


def test_from_env_router() -> None:
    env = {
        "CLINIC_CRM_SENDER": "smtp,http-sms",
        "CLINIC_CRM_SMTP_HOST": "smtp.example.com",
        "CLINIC_CRM_SMTP_FROM": "no-reply@clinic.example",
        "CLINIC_CRM_SMS_URL": "https://sms.example.com/v1",
    }
    router = sender_from_env(environ=env)
    assert isinstance(router, ChannelRouter)
    assert isinstance(router.routes["email"], SmtpSender)
    assert isinstance(router.routes["sms"], HttpSmsSender)


@pytest.mark.parametrize(
    ("name", "env", "field"),
    [
        ("carrier-pigeon", {}, "sender"),
        ("smtp", {"CLINIC_CRM_SMTP_FROM": "a@b.example"}, "CLINIC_CRM_SMTP_HOST"),
        ("smtp", {"CLINIC_CRM_SMTP_HOST": "h"}, "CLINIC_CRM_SMTP_FROM"),
        (
            "smtp",
            {"CLINIC_CRM_SMTP_HOST": "h", "CLINIC_CRM_SMTP_FROM": "a@b.example", "CLINIC_CRM_SMTP_STARTTLS": "maybe"},
            "CLINIC_CRM_SMTP_STARTTLS",
        ),
        (
            "smtp",
            {"CLINIC_CRM_SMTP_HOST": "h", "CLINIC_CRM_SMTP_FROM": "a@b.example", "CLINIC_CRM_SMTP_PORT": "abc"},
            "CLINIC_CRM_SMTP_PORT",
        ),
        (
            "smtp",
            {
                "CLINIC_CRM_SMTP_HOST": "h",
                "CLINIC_CRM_SMTP_FROM": "a@b.example",
                "CLINIC_CRM_SMTP_SSL": "1",
                "CLINIC_CRM_SMTP_STARTTLS": "1",
            },
            "CLINIC_CRM_SMTP_STARTTLS",
        ),
        ("http-sms", {}, "CLINIC_CRM_SMS_URL"),
        (
            "http-sms",
            {"CLINIC_CRM_SMS_URL": "https://x.example", "CLINIC_CRM_SMS_TIMEOUT": "-1"},
            "CLINIC_CRM_SMS_TIMEOUT",
        ),
        ("outbox,nope", {}, "sender"),
        (" , ", {}, "sender"),
    ],
)
def test_from_env_errors_name_the_variable(name: str, env: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        sender_from_env(name, environ=env)
    assert info.value.field == field
