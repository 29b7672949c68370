"""WebhookPublisher against a real ThreadingHTTPServer on 127.0.0.1; OutboxPublisher on files; both with publish_due."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from clinic_crm import ClinicCRM, DeliveryError, PublicPost, ValidationError
from clinic_crm.messaging.outbox import read_outbox
from clinic_crm.messaging.post import Publisher
from clinic_crm.messaging.publishers import OutboxPublisher, WebhookPublisher
from clinic_crm.models import Clinic
from tests.conftest import T0

from .conftest import HOST, free_port

TEXT = "七月起週六門診時間調整為 9:00–12:00"


def make_post(key: str = "post-abc", post_id: int = 11) -> PublicPost:
    return PublicPost(
        idempotency_key=key, clinic_id=3, channel="website", text=TEXT, locale="zh_TW", kind="news", post_id=post_id
    )


def test_both_publishers_implement_the_protocol(tmp_path: Path) -> None:
    assert isinstance(OutboxPublisher(tmp_path / "p.jsonl"), Publisher)
    assert isinstance(WebhookPublisher(f"http://{HOST}/hook"), Publisher)


# -- webhook -----------------------------------------------------------------------------------------------


def test_webhook_posts_the_post_as_json_with_the_idempotency_key(gateway) -> None:  # type: ignore[no-untyped-def]
    gateway.answer(201, {"id": "fb-123"})
    publisher = WebhookPublisher(gateway.url, token="tok-1", timeout=5)

    assert publisher.publish(make_post()) == "fb-123"

    [request] = gateway.requests
    assert request.body == dataclasses.asdict(make_post())
    assert request.headers["idempotency-key"] == "post-abc"
    assert request.headers["authorization"] == "Bearer tok-1"
    assert request.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        ({"id": 42}, {}, "42"),
        (None, {"X-Post-Id": "hdr-7"}, "hdr-7"),
        ({"ok": True}, {"Location": "https://example.org/posts/9"}, "https://example.org/posts/9"),
        (b"not json", {}, "post-abc"),
    ],
)
def test_webhook_post_id_from_the_answer_a_header_or_the_key(gateway, body, headers, expected) -> None:  # type: ignore[no-untyped-def]
    gateway.answer(200, body, headers=headers)
    assert WebhookPublisher(gateway.url, timeout=5).publish(make_post()) == expected


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(408, True), (429, True), (500, True), (502, True), (503, True), (400, False), (401, False), (404, False)],
)
def test_webhook_errors_are_retryable_or_permanent_without_the_text(gateway, caplog, status, retryable) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG, logger="clinic_crm")
    gateway.answer(status, {"error": f"rejected {TEXT}"})
    with pytest.raises(DeliveryError) as info:
        WebhookPublisher(gateway.url, timeout=5).publish(make_post())
    assert info.value.retryable is retryable
    assert str(status) in str(info.value)
    assert TEXT not in str(info.value) and TEXT not in caplog.text
    assert "post_id=11" in caplog.text


def test_webhook_redirect_is_permanent_and_not_followed(gateway) -> None:  # type: ignore[no-untyped-def]
    gateway.answer(307, None, headers={"Location": "/elsewhere"})
    with pytest.raises(DeliveryError) as info:
        WebhookPublisher(gateway.url, timeout=5).publish(make_post())
    assert info.value.retryable is False
    assert len(gateway.requests) == 1


def test_webhook_timeout_and_refused_connection_are_retryable(gateway) -> None:  # type: ignore[no-untyped-def]
    gateway.answer(200, {"id": "late"}, delay=1.0)
    with pytest.raises(DeliveryError) as slow:
        WebhookPublisher(gateway.url, timeout=0.2).publish(make_post())
    assert slow.value.retryable is True
    with pytest.raises(DeliveryError) as refused:
        WebhookPublisher(f"http://{HOST}:{free_port()}/hook", timeout=2).publish(make_post())
    assert refused.value.retryable is True and "unreachable" in str(refused.value)


@pytest.mark.parametrize("url", ["", "ftp://x/y", "http://", "example.org/hook"])
def test_webhook_url_must_be_http(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        WebhookPublisher(url)
    assert info.value.field == "url"


def test_webhook_token_is_not_in_repr() -> None:
    assert "tok-secret" not in repr(WebhookPublisher("https://example.org/hook?x=1", token="tok-secret"))


def test_publish_due_through_the_webhook_retries_with_the_same_key(crm: ClinicCRM, clinic: Clinic, gateway) -> None:  # type: ignore[no-untyped-def]
    post = crm.posts.schedule(clinic.id, channel="website", text=TEXT, publish_at=T0)
    publisher = WebhookPublisher(gateway.url, timeout=5)

    gateway.answer(503)
    assert crm.posts.publish_due(publisher, now=T0).failed == 1
    stored = crm.posts.get(post.id)
    assert stored.status == "scheduled" and TEXT not in (stored.last_error or "")

    gateway.answer(200, {"id": "site-77"})
    assert stored.next_attempt_at is not None
    assert crm.posts.publish_due(publisher, now=stored.next_attempt_at).published == 1
    assert crm.posts.get(post.id).provider_post_id == "site-77"
    assert [r.headers["idempotency-key"] for r in gateway.requests] == [post.idempotency_key] * 2
    assert gateway.requests[-1].body["text"] == TEXT and gateway.requests[-1].body["post_id"] == post.id

    post2 = crm.posts.schedule(clinic.id, channel="website", text="x", publish_at=T0)
    gateway.answer(422)
    assert crm.posts.publish_due(publisher, now=T0).failed == 1
    assert crm.posts.get(post2.id).status == "failed"


# -- outbox ------------------------------------------------------------------------------------------------


def test_outbox_publisher_appends_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "posts.jsonl"
    publisher = OutboxPublisher(path)
    assert publisher.publish(make_post("k-1", 1)) == "outbox:k-1"
    assert publisher.publish(make_post("k-2", 2)) == "outbox:k-2"
    records = list(read_outbox(path))
    assert [(r["post_id"], r["idempotency_key"], r["text"], r["provider_id"]) for r in records] == [
        (1, "k-1", TEXT, "outbox:k-1"),
        (2, "k-2", TEXT, "outbox:k-2"),
    ]
    assert records[0]["kind"] == "news" and records[0]["statement_id"] is None


def test_outbox_publisher_directory_writes_a_post_handed_over_twice_once(tmp_path: Path) -> None:
    folder = tmp_path / "posts"
    folder.mkdir()
    publisher = OutboxPublisher(folder)
    publisher.publish(make_post("same"))
    publisher.publish(make_post("same"))
    assert [r["idempotency_key"] for r in read_outbox(folder)] == ["same"]


def test_outbox_publisher_that_cannot_write_is_retryable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DeliveryError) as info:
        OutboxPublisher(blocker / "posts.jsonl").publish(make_post())
    assert info.value.retryable is True
    with pytest.raises(ValidationError):
        OutboxPublisher("")
