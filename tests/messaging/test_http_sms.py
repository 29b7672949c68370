"""HttpSmsSender against a real ThreadingHTTPServer on 127.0.0.1."""

from __future__ import annotations

import logging

import pytest

from clinic_crm.errors import DeliveryError, ValidationError
from clinic_crm.messaging.http_sms import HttpSmsSender

from .conftest import HOST, free_port, make_message

PHONE = "+886912345678"


def sms(key: str = "rem-5-xyz", reminder_id: int = 5):  # type: ignore[no-untyped-def]
    return make_message(channel="sms", to=PHONE, key=key, reminder_id=reminder_id)


def test_posts_json_with_idempotency_key_and_bearer_token(gateway) -> None:  # type: ignore[no-untyped-def]
    gateway.answer(201, {"id": "gw-123", "status": "queued"})
    sender = HttpSmsSender(gateway.url, token="tok-abc", timeout=5)

    assert sender.send(sms()) == "gw-123"

    [request] = gateway.requests
    assert request.path == "/v1/messages"
    assert request.body == {
        "to": PHONE,
        "body": "王小明您好，您的洗牙預約在 2026年3月3日 上午10:00。",
        "reference": "rem-5-xyz",
    }
    assert request.headers["idempotency-key"] == "rem-5-xyz"
    assert request.headers["authorization"] == "Bearer tok-abc"
    assert request.headers["content-type"].startswith("application/json")


def test_without_token_sends_no_authorization(gateway) -> None:  # type: ignore[no-untyped-def]
    HttpSmsSender(gateway.url, timeout=5).send(sms())
    assert "authorization" not in gateway.requests[0].headers


def test_numeric_id_is_returned_as_text(gateway) -> None:  # type: ignore[no-untyped-def]
    gateway.answer(200, {"id": 98765})
    assert HttpSmsSender(gateway.url, timeout=5).send(sms()) == "98765"


@pytest.mark.parametrize("answer", [None, {"status": "ok"}, b"not json", [1, 2]])
def test_success_without_an_id_falls_back_to_the_idempotency_key(gateway, answer) -> None:  # type: ignore[no-untyped-def]
    gateway.answer(200, answer)
    assert HttpSmsSender(gateway.url, timeout=5).send(sms(key="k-77")) == "k-77"


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (408, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (422, False),
    ],
)
def test_error_statuses_map_to_retryable_or_permanent(gateway, status, retryable, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG, logger="clinic_crm")
    gateway.answer(status, {"error": f"bad number {PHONE}"})
    with pytest.raises(DeliveryError) as info:
        HttpSmsSender(gateway.url, timeout=5).send(sms(reminder_id=31))
    assert info.value.retryable is retryable
    assert str(status) in str(info.value)
    assert PHONE not in str(info.value)
    assert "reminder_id=31" in caplog.text
    assert PHONE not in caplog.text and "王小明" not in caplog.text


def test_redirect_is_not_followed(gateway) -> None:  # type: ignore[no-untyped-def]
    gateway.answer(302, None, headers={"Location": "/elsewhere"})
    with pytest.raises(DeliveryError) as info:
        HttpSmsSender(gateway.url, timeout=5).send(sms())
    assert info.value.retryable is False
    assert len(gateway.requests) == 1  # no second request (a POST would have become a GET)


def test_timeout_is_retryable(gateway) -> None:  # type: ignore[no-untyped-def]
    gateway.answer(200, {"id": "late"}, delay=1.0)
    with pytest.raises(DeliveryError) as info:
        HttpSmsSender(gateway.url, timeout=0.2).send(sms())
    assert info.value.retryable is True


def test_connection_refused_is_retryable() -> None:
    with pytest.raises(DeliveryError) as info:
        HttpSmsSender(f"http://{HOST}:{free_port()}/sms", timeout=2).send(sms())
    assert info.value.retryable is True
    assert "unreachable" in str(info.value)


def test_email_message_is_refused_without_a_request(gateway) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DeliveryError) as info:
        HttpSmsSender(gateway.url, timeout=5).send(make_message(channel="email"))
    assert info.value.retryable is False
    assert gateway.requests == []


def test_retry_sends_the_same_idempotency_key(gateway) -> None:  # type: ignore[no-untyped-def]
    sender = HttpSmsSender(gateway.url, timeout=5)
    gateway.answer(503)
    with pytest.raises(DeliveryError):
        sender.send(sms(key="same-key"))
    gateway.answer(200, {"id": "gw-9"})
    assert sender.send(sms(key="same-key")) == "gw-9"
    assert [r.headers["idempotency-key"] for r in gateway.requests] == ["same-key", "same-key"]


@pytest.mark.parametrize("url", ["", "file:///etc/passwd", "ftp://x/y", "http://", "sms.example.com/send"])
def test_url_must_be_http(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        HttpSmsSender(url)
    assert info.value.field == "url"


def test_token_is_not_in_repr() -> None:
    sender = HttpSmsSender("https://sms.example.com/v1?x=1", token="tok-secret")
    assert "tok-secret" not in repr(sender)
