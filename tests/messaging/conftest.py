"""Real local servers for the sender tests: an aiosmtpd SMTP server and a threading HTTP server."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from clinic_crm.messaging.message import OutboundMessage

HOST = "127.0.0.1"
SMTP_USER = "clinic"
SMTP_PASSWORD = "s3cret"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def make_message(
    *, channel: str = "email", to: str = "wang.xiaoming@example.com", key: str = "rem-1-abc", reminder_id: int = 1
) -> OutboundMessage:
    """An outbound message with recognisable patient data (to check it never leaks into logs)."""
    return OutboundMessage(
        idempotency_key=key,
        reminder_id=reminder_id,
        patient_id=7,
        channel=channel,
        to=to,
        subject="回診提醒 Sunrise Dental" if channel == "email" else None,
        body="王小明您好，您的洗牙預約在 2026年3月3日 上午10:00。",
        locale="zh_TW",
    )


# -- TLS material ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1/localhost and its key, as PEM files."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate made with ``cryptography``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Certificate(cert_path, key_path)


# -- SMTP ------------------------------------------------------------------------------------


@dataclass
class SmtpHandler:
    """Records delivered envelopes; refuses recipients by their local part (``nobody`` 550, ``busy`` 450)."""

    envelopes: list[Envelope] = field(default_factory=list)
    tls_sessions: list[bool] = field(default_factory=list)
    peers: set[Any] = field(default_factory=set)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd hook name
        self, server: Any, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        local = address.split("@", 1)[0]
        if local == "nobody":
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if local == "busy":
            return f"450 4.2.1 <{address}>: mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        self.tls_sessions.append(session.ssl is not None)
        self.peers.add(session.peer)
        return "250 Message accepted for delivery"


def _authenticator(server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok)


@dataclass
class SmtpServer:
    """A running aiosmtpd server."""

    port: int
    handler: SmtpHandler
    controller: Controller


@pytest.fixture
def smtp_factory() -> Iterator[Callable[..., SmtpServer]]:
    """Start aiosmtpd servers on free ports (``mode``: plain, starttls, starttls-auth, ssl); stopped after."""
    started: list[Controller] = []

    def start(mode: str = "plain", certificate: Certificate | None = None) -> SmtpServer:
        handler = SmtpHandler()
        port = free_port()
        kwargs: dict[str, Any] = {}
        if mode in ("starttls", "starttls-auth"):
            assert certificate is not None
            kwargs.update(tls_context=certificate.server_context(), require_starttls=True)
        if mode == "starttls-auth":
            kwargs.update(authenticator=_authenticator, auth_required=True, auth_require_tls=True)
        if mode == "ssl":
            assert certificate is not None
            kwargs.update(ssl_context=certificate.server_context(), server_hostname="localhost")
        controller = Controller(handler, hostname=HOST, port=port, **kwargs)
        controller.start()
        started.append(controller)
        return SmtpServer(port, handler, controller)

    yield start
    for controller in started:
        try:
            controller.stop()
        except AssertionError:  # already stopped by the test
            pass


# -- HTTP ------------------------------------------------------------------------------------


@dataclass
class Recorded:
    """One request the gateway received."""

    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Gateway:
    """A scripted SMS gateway: ``respond(request) -> (status, body, headers, delay)``."""

    url: str
    requests: list[Recorded]
    respond: list[Callable[[Recorded], tuple[int, bytes, dict[str, str], float]]]

    def answer(self, status: int, body: Any = None, *, headers: dict[str, str] | None = None, delay: float = 0) -> None:
        raw = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else (body or b"")
        self.respond[0] = lambda _request: (status, raw, headers or {}, delay)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    """A real ``ThreadingHTTPServer`` on 127.0.0.1 in a thread, answering 200 ``{"id": "gw-1"}`` by default."""
    requests: list[Recorded] = []
    respond: list[Callable[[Recorded], tuple[int, bytes, dict[str, str], float]]] = [
        lambda _r: (200, b'{"id": "gw-1"}', {}, 0.0)
    ]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server hook name
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            try:
                body: Any = json.loads(raw.decode("utf-8"))
            except ValueError:
                body = raw
            record = Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            requests.append(record)
            status, payload, headers, delay = respond[0](record)
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client gave up (time-out test)
                pass

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
            pass

    server = ThreadingHTTPServer((HOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Gateway(f"http://{HOST}:{server.server_address[1]}/v1/messages", requests, respond)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
