"""Peers of the two-way reply tests: a loopback HTTPS server standing in for Amazon SNS (it
serves the signing certificate and answers SubscribeURLs) behind a test CA, and the signer
that makes SNS messages with the test key; Twilio signatures made with a test auth token."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from modules.sos.inbound import sns
from modules.sos.inbound.twilio import twilio_signature

TOPIC = "arn:aws:sns:us-east-1:123456789012:portal-sos-replies"
OTHER_TOPIC = "arn:aws:sns:us-east-1:123456789012:someone-else"
TWILIO_TOKEN = "test-twilio-auth-token"
SNS_PATH = "/api/sos/inbound/sns/"
TWILIO_PATH = "/api/sos/inbound/twilio/"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _cert(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer: x509.Certificate | None = None,
    issuer_key: rsa.RSAPrivateKey | None = None,
    *,
    ca: bool = False,
    ip: str | None = None,
    days: int = 30,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            critical=True,
        )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
            critical=False,
        )
    return builder.sign(issuer_key or key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class FakeSns:
    """HTTPS on 127.0.0.1 with a certificate from a test CA (trusted through SSL_CERT_FILE):
    GET /SimpleNotificationService-<v>.pem (the signing certificate), any other GET (a
    SubscribeURL) -> 200."""

    def __init__(self, root: Path) -> None:
        ca_key, server_key = _key(), _key()
        ca = _cert("Portal test CA", ca_key, ca=True)
        server = _cert("127.0.0.1", server_key, ca, ca_key, ip="127.0.0.1")
        self.signing_key = _key()
        self.signing_cert = _cert("sns.us-east-1.amazonaws.com", self.signing_key)
        self.ca_file = root / "ca.pem"
        self.ca_file.write_bytes(_pem(ca))
        (root / "server.pem").write_bytes(
            _pem(server)
            + server_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.paths: list[str] = []
        self.cert_body = _pem(self.signing_cert)
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                peer.paths.append(self.path)
                cert = self.path.startswith("/SimpleNotificationService-")
                body = peer.cert_body if cert else b"<Confirmed/>"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(root / "server.pem")
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.base = f"https://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def sign(self, fields: dict[str, str], *, version: str = "1", key: Any = None) -> dict:
        """`fields` completed and signed the way SNS signs them."""
        message = {
            "MessageId": str(uuid.uuid4()),
            "TopicArn": TOPIC,
            "Timestamp": sns_timestamp(),
            "SignatureVersion": version,
            "SigningCertURL": f"{self.base}/SimpleNotificationService-{version}.pem",
            **fields,
        }
        parsed = sns.parse_envelope(json.dumps({**message, "Signature": "x"}).encode())
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303
        signature = (key or self.signing_key).sign(
            sns.canonical_string(parsed), padding.PKCS1v15(), digest
        )
        return {**message, "Signature": base64.b64encode(signature).decode()}

    def notification(self, payload: dict | str, **extra: str) -> dict:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        return self.sign({"Type": "Notification", "Message": text, **extra})

    def sms(self, sender: str, body: str, *, inbound_id: str | None = None) -> dict:
        return self.notification(
            {
                "originationNumber": sender,
                "destinationNumber": "+18005550199",
                "messageKeyword": "KEYWORD_123456789012",
                "messageBody": body,
                "inboundMessageId": inbound_id or str(uuid.uuid4()),
                "previousPublishedMessageId": "wJ0c-EXAMPLE",
            }
        )


@pytest.fixture(scope="session")
def fake_sns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeSns]:
    peer = FakeSns(tmp_path_factory.mktemp("fake-sns"))
    yield peer
    peer.stop()


@pytest.fixture
def sns_peer(
    fake_sns: FakeSns, aws: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> FakeSns:
    """The fake SNS, trusted: its CA through SSL_CERT_FILE, its host through the setting;
    the confirmations of SMS replies go to moto's SNS (`aws`)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(fake_sns.ca_file))
    settings.SOS_SNS_TOPIC_ARNS = [TOPIC]
    settings.SOS_SNS_CERT_HOST_PATTERN = r"127\.0\.0\.1"
    sns.cert_cache.clear()
    fake_sns.paths.clear()
    return fake_sns


def sns_timestamp(age: dt.timedelta = dt.timedelta(0)) -> str:
    """The Timestamp of a message SNS published `age` ago, written as SNS writes it."""
    published = dt.datetime.now(dt.UTC) - age
    return published.strftime("%Y-%m-%dT%H:%M:%S.") + f"{published.microsecond // 1000:03d}Z"


def post_sns(client: Any, message: dict | bytes) -> Any:
    """POST the way SNS does: JSON with Content-Type text/plain."""
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    kind = message.get("Type", "") if isinstance(message, dict) else ""
    return client.post(
        SNS_PATH,
        data=body,
        content_type="text/plain; charset=utf-8",  # SNS: UTF-8 (the test client needs it lower)
        HTTP_X_AMZ_SNS_MESSAGE_TYPE=kind,
    )


def post_twilio(
    client: Any,
    params: dict[str, str],
    *,
    token: str = TWILIO_TOKEN,
    base: str = "http://portal.test",
    signature: str | None = None,
) -> Any:
    url = base + TWILIO_PATH
    if signature is None:
        signature = twilio_signature(token, url, params.items())
    return client.post(
        TWILIO_PATH,
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )
