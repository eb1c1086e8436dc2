"""One bounded HTTP(S) request through the egress policy."""

from __future__ import annotations

import datetime
import http.server
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from portal.egress import (
    EgressForbidden,
    EgressPolicy,
    http_request,
)

pytestmark = pytest.mark.nodb

DEFAULT = EgressPolicy()
LOOPBACK = EgressPolicy(["127.0.0.0/8", "::1/128"])


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    paths: list[str] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def reply(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        self.paths.append(self.path)
        if self.path == "/big":
            self.reply(200, b"x" * 5000)
        elif self.path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Length", "60")
            self.end_headers()
            try:
                for _ in range(60):
                    self.wfile.write(b"z")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                self.close_connection = True
        elif self.path == "/slow-headers":
            self.send_response(200)
            try:
                for i in range(40):
                    self.send_header(f"X-Drip-{i}", "y")
                    self.flush_headers()
                    time.sleep(0.05)
            except OSError:
                self.close_connection = True
        elif self.path == "/endless":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"400\r\n" + b"y" * 1024 + b"\r\n")
            except OSError:
                self.close_connection = True
        elif self.path == "/redirect":
            self.reply(302, b"moved", Location="/elsewhere")
        elif self.path.startswith("/echo"):
            length = int(self.headers.get("Content-Length", 0))
            echoed = {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers.items()),
                "body": self.rfile.read(length).decode(),
            }
            self.reply(200, json.dumps(echoed).encode(), Content_Type="application/json")
        else:
            self.reply(200, b"hello", Content_Type="text/plain", X_Probe="yes")

    do_POST = do_HEAD = do_GET


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_makes_an_http_request(web: str) -> None:
    response = http_request("GET", f"{web}/", timeout=5, policy=LOOPBACK)
    assert (response.status, response.reason, response.body) == (200, "OK", b"hello")
    assert response.header("x-probe") == "yes"
    assert ("Content-Type", "text/plain") in response.headers
    assert not response.truncated
    assert response.http_version == "HTTP/1.1"
    assert response.address.address == "127.0.0.1"


def test_sends_method_headers_body_and_host(web: str) -> None:
    port = web.rsplit(":", 1)[1]
    response = http_request(
        "POST",
        f"http://localhost:{port}/echo?q=1",
        headers={"X-Token": "abc", "Host": "evil.example"},
        body=b"payload",
        timeout=5,
        policy=LOOPBACK,
    )
    echoed = json.loads(response.body)
    assert echoed["method"] == "POST"
    assert echoed["path"] == "/echo?q=1"
    assert echoed["body"] == "payload"
    assert echoed["headers"]["Host"] == f"localhost:{port}"
    assert echoed["headers"]["X-Token"] == "abc"


class IPv6Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


def test_requests_a_bracketed_ipv6_url() -> None:
    try:
        server = IPv6Server(("::1", 0), Handler)
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        response = http_request("GET", f"http://[::1]:{port}/echo", timeout=5, policy=LOOPBACK)
    finally:
        server.shutdown()
        server.server_close()
    assert json.loads(response.body)["headers"]["Host"] == f"[::1]:{port}"
    assert response.address.address == "::1"
    assert response.address.ip_version == 6


def test_caps_the_body(web: str) -> None:
    cut = http_request("GET", f"{web}/big", timeout=5, max_body=1000, policy=LOOPBACK)
    assert (len(cut.body), cut.truncated) == (1000, True)
    whole = http_request("GET", f"{web}/big", timeout=5, max_body=5000, policy=LOOPBACK)
    assert (len(whole.body), whole.truncated) == (5000, False)


def test_stops_reading_an_endless_body_at_the_cap(web: str) -> None:
    response = http_request("GET", f"{web}/endless", timeout=3, max_body=10_000, policy=LOOPBACK)
    assert response.body == b"y" * 10_000
    assert response.truncated


def test_returns_a_redirect_without_following_it(web: str) -> None:
    response = http_request("GET", f"{web}/redirect", timeout=5, policy=LOOPBACK)
    assert response.status == 302
    assert response.header("Location") == "/elsewhere"
    assert response.body == b"moved"
    assert "/elsewhere" not in Handler.paths


def test_refuses_an_http_request_to_loopback_by_default(web: str) -> None:
    before = len(Handler.paths)
    with pytest.raises(EgressForbidden, match="loopback"):
        http_request("GET", f"{web}/refused", timeout=5, policy=DEFAULT)
    assert len(Handler.paths) == before


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://example.com/", "Unsupported URL scheme"),
        ("file:///etc/passwd", "Unsupported URL scheme"),
        ("http:///path", "no host"),
    ],
)
def test_rejects_unsupported_urls(url: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        http_request("GET", url, timeout=5, policy=LOOPBACK)


def test_times_out_when_the_server_never_answers(listener: socket.socket) -> None:
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        http_request("GET", url, timeout=0.3, policy=LOOPBACK)
    assert time.monotonic() - started < 2


def test_bounds_the_whole_exchange_by_the_timeout(web: str) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        http_request("GET", f"{web}/trickle", timeout=0.5, policy=LOOPBACK)
    assert time.monotonic() - started < 1.5


def test_a_server_trickling_header_lines_cannot_outlast_the_timeout(web: str) -> None:
    # Each header line arrives well within a per-read timeout; only a whole-request deadline
    # stops this.
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        http_request("GET", f"{web}/slow-headers", timeout=0.5, policy=LOOPBACK)
    assert time.monotonic() - started < 1.5


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a leaf certificate for "localhost" signed by it: (ca, cert, key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Portal test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture(scope="module")
def tls_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path, list[str]]]:
    ca, cert, key = make_certificates(tmp_path_factory.mktemp("tls"))
    server_names: list[str] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def remember_sni(_sock: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        server_names.append(name or "")

    context.sni_callback = remember_sni
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], ca, server_names
    server.shutdown()
    server.server_close()


def test_makes_an_https_request_with_sni_and_verification(
    tls_web: tuple[int, Path, list[str]],
) -> None:
    port, ca, server_names = tls_web
    context = ssl.create_default_context(cafile=str(ca))
    response = http_request(
        "GET", f"https://localhost:{port}/", timeout=5, policy=LOOPBACK, ssl_context=context
    )
    assert (response.status, response.body) == (200, b"hello")
    assert response.address.address == "127.0.0.1"
    assert server_names[-1] == "localhost"


def test_verifies_the_certificate_against_the_url_host(
    tls_web: tuple[int, Path, list[str]],
) -> None:
    port, ca, _ = tls_web
    context = ssl.create_default_context(cafile=str(ca))
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        http_request(
            "GET", f"https://127.0.0.1:{port}/", timeout=5, policy=LOOPBACK, ssl_context=context
        )


def test_rejects_an_untrusted_certificate(tls_web: tuple[int, Path, list[str]]) -> None:
    port, _, _ = tls_web
    with pytest.raises(ssl.SSLCertVerificationError):
        http_request("GET", f"https://localhost:{port}/", timeout=5, policy=LOOPBACK)


def test_skips_verification_when_told(tls_web: tuple[int, Path, list[str]]) -> None:
    port, _, _ = tls_web
    response = http_request(
        "GET", f"https://localhost:{port}/", timeout=5, policy=LOOPBACK, verify_tls=False
    )
    assert response.status == 200
