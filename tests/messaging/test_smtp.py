"""SmtpSender against a real aiosmtpd server on 127.0.0.1: plain, STARTTLS (+login), implicit TLS, refusals."""

from __future__ import annotations

import logging
from email import message_from_bytes, policy

import pytest

from clinic_crm.errors import DeliveryError, ValidationError
from clinic_crm.messaging.smtp import SmtpSender, message_id_for

from .conftest import HOST, SMTP_PASSWORD, SMTP_USER, free_port, make_message

FROM = "Sunrise Dental <no-reply@sunrise.example>"


def parsed(envelope):  # type: ignore[no-untyped-def]
    return message_from_bytes(envelope.original_content, policy=policy.default)


def test_plain_smtp_delivers_with_headers_from_the_idempotency_key(smtp_factory) -> None:  # type: ignore[no-untyped-def]
    server = smtp_factory("plain")
    with SmtpSender(HOST, server.port, from_addr=FROM, timeout=5) as sender:
        provider_id = sender.send(make_message(key="rem-42-k1", reminder_id=42))

    assert provider_id == "<rem-42-k1@sunrise.example>"
    [envelope] = server.handler.envelopes
    assert envelope.mail_from == "no-reply@sunrise.example"
    assert envelope.rcpt_tos == ["wang.xiaoming@example.com"]
    mail = parsed(envelope)
    assert mail["Message-ID"] == provider_id
    assert mail["X-Idempotency-Key"] == "rem-42-k1"
    assert mail["From"] == FROM
    assert mail["Subject"] == "回診提醒 Sunrise Dental"
    assert mail["Content-Language"] == "zh-TW"
    assert mail.get_content().strip() == "王小明您好，您的洗牙預約在 2026年3月3日 上午10:00。"
    assert server.handler.tls_sessions == [False]


def test_same_key_same_message_id_and_connection_is_reused(smtp_factory) -> None:  # type: ignore[no-untyped-def]
    server = smtp_factory("plain")
    with SmtpSender(HOST, server.port, from_addr=FROM, timeout=5) as sender:
        first = sender.send(make_message(key="k-1", reminder_id=1))
        again = sender.send(make_message(key="k-1", reminder_id=1))
        other = sender.send(make_message(key="k-2", reminder_id=2))
    assert first == again != other
    assert len(server.handler.envelopes) == 3
    assert len(server.handler.peers) == 1  # one connection for the three messages


def test_unsafe_key_is_hashed_into_a_valid_message_id() -> None:
    mid = message_id_for("a key with spaces <and> brackets", "clinic.example")
    assert mid.startswith("<") and mid.endswith("@clinic.example>")
    assert " " not in mid and mid.count("<") == 1
    assert mid == message_id_for("a key with spaces <and> brackets", "clinic.example")


def test_permanent_recipient_refusal_is_not_retryable_and_leaks_no_address(smtp_factory, caplog) -> None:  # type: ignore[no-untyped-def]
    server = smtp_factory("plain")
    caplog.set_level(logging.DEBUG, logger="clinic_crm")
    with SmtpSender(HOST, server.port, from_addr=FROM, timeout=5) as sender:
        with pytest.raises(DeliveryError) as info:
            sender.send(make_message(to="nobody@example.com", key="k-9", reminder_id=9))
        # the same connection is usable afterwards
        sender.send(make_message(key="k-10", reminder_id=10))
    assert info.value.retryable is False
    assert "550" in str(info.value)
    assert "nobody" not in str(info.value) and info.value.__suppress_context__
    assert len(server.handler.envelopes) == 1
    text = caplog.text
    assert "reminder_id=9" in text and "k-9" in text
    for secret in ("nobody@", "wang.xiaoming", "王小明", "回診"):
        assert secret not in text


def test_temporary_recipient_refusal_is_retryable(smtp_factory) -> None:  # type: ignore[no-untyped-def]
    server = smtp_factory("plain")
    with SmtpSender(HOST, server.port, from_addr=FROM, timeout=5) as sender:
        with pytest.raises(DeliveryError) as info:
            sender.send(make_message(to="busy@example.com"))
    assert info.value.retryable is True
    assert "450" in str(info.value)


def test_no_server_is_retryable() -> None:
    sender = SmtpSender(HOST, free_port(), from_addr=FROM, timeout=2)
    with pytest.raises(DeliveryError) as info:
        sender.send(make_message())
    assert info.value.retryable is True


def test_reconnects_after_the_server_dropped_the_connection(smtp_factory) -> None:  # type: ignore[no-untyped-def]
    server = smtp_factory("plain")
    sender = SmtpSender(HOST, server.port, from_addr=FROM, timeout=5)
    sender.send(make_message(key="k-1"))
    assert sender._conn is not None
    sender._conn.sock.close()  # type: ignore[union-attr]  # the server (or a NAT) dropped it
    sender.send(make_message(key="k-2"))
    sender.close()
    assert [parsed(e)["X-Idempotency-Key"] for e in server.handler.envelopes] == ["k-1", "k-2"]


def test_starttls_with_custom_context_and_login(smtp_factory, certificate) -> None:  # type: ignore[no-untyped-def]
    server = smtp_factory("starttls-auth", certificate)
    with SmtpSender(
        "localhost",
        server.port,
        from_addr=FROM,
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        starttls=True,
        ssl_context=certificate.client_context(),
        timeout=5,
    ) as sender:
        sender.send(make_message())
    assert server.handler.tls_sessions == [True]


def test_wrong_password_is_retryable_configuration_error(smtp_factory, certificate) -> None:  # type: ignore[no-untyped-def]
    server = smtp_factory("starttls-auth", certificate)
    sender = SmtpSender(
        "localhost",
        server.port,
        from_addr=FROM,
        username=SMTP_USER,
        password="wrong",
        starttls=True,
        ssl_context=certificate.client_context(),
        timeout=1,
    )
    with sender, pytest.raises(DeliveryError) as info:
        sender.send(make_message())
    assert info.value.retryable is True  # a configuration problem: fixing it lets the retry succeed
    assert server.handler.envelopes == []


def test_starttls_refuses_an_unverified_certificate(smtp_factory, certificate) -> None:  # type: ignore[no-untyped-def]
    server = smtp_factory("starttls", certificate)
    sender = SmtpSender("localhost", server.port, from_addr=FROM, starttls=True, timeout=5)  # system CAs only
    with pytest.raises(DeliveryError) as info:
        sender.send(make_message())
    assert info.value.retryable is True
    assert server.handler.envelopes == []


def test_starttls_required_but_not_offered_is_refused(smtp_factory) -> None:  # type: ignore[no-untyped-def]
    server = smtp_factory("plain")
    sender = SmtpSender(HOST, server.port, from_addr=FROM, starttls=True, timeout=5)
    with pytest.raises(DeliveryError) as info:
        sender.send(make_message())
    assert "STARTTLS" in str(info.value)
    assert server.handler.envelopes == []  # nothing went out in clear text


def test_server_requiring_starttls_refuses_a_plain_client(smtp_factory, certificate) -> None:  # type: ignore[no-untyped-def]
    server = smtp_factory("starttls", certificate)
    with SmtpSender(HOST, server.port, from_addr=FROM, timeout=5) as sender, pytest.raises(DeliveryError) as info:
        sender.send(make_message())
    assert info.value.retryable is False  # 530 Must issue a STARTTLS command first
    assert "530" in str(info.value)
    assert server.handler.envelopes == []


def test_implicit_tls(smtp_factory, certificate) -> None:  # type: ignore[no-untyped-def]
    server = smtp_factory("ssl", certificate)
    with SmtpSender(
        "localhost", server.port, from_addr=FROM, use_ssl=True, ssl_context=certificate.client_context(), timeout=5
    ) as sender:
        assert sender.send(make_message(key="k-ssl")) == "<k-ssl@sunrise.example>"
    assert len(server.handler.envelopes) == 1


def test_sms_message_is_refused_permanently_without_connecting() -> None:
    sender = SmtpSender(HOST, free_port(), from_addr=FROM, timeout=1)
    with pytest.raises(DeliveryError) as info:
        sender.send(make_message(channel="sms", to="+886912345678"))
    assert info.value.retryable is False
    assert "+886" not in str(info.value)


def test_header_injection_in_address_is_permanent() -> None:
    sender = SmtpSender(HOST, free_port(), from_addr=FROM, timeout=1)
    with pytest.raises(DeliveryError) as info:
        sender.send(make_message(to="a@example.com\r\nBcc: evil@example.com"))
    assert info.value.retryable is False
    assert "evil" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"host": ""}, "host"),
        ({"port": 0}, "port"),
        ({"from_addr": "no-at-sign"}, "from_addr"),
        ({"starttls": True, "use_ssl": True}, "starttls"),
        ({"username": "u", "password": "p"}, "username"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_invalid_settings_raise_validation_error(kwargs, field) -> None:  # type: ignore[no-untyped-def]
    settings = {"host": HOST, "port": 25, "from_addr": FROM} | kwargs
    host, port = settings.pop("host"), settings.pop("port")
    with pytest.raises(ValidationError) as info:
        SmtpSender(host, port, **settings)
    assert info.value.field == field


def test_insecure_auth_allowed_when_asked() -> None:
    sender = SmtpSender(HOST, 25, from_addr=FROM, username="u", password="hunter2", allow_insecure_auth=True)
    assert "hunter2" not in repr(sender)
    assert sender.username == "u" and sender.starttls is False
