from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import os
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
    EgressResolveError,
    ResolvedAddress,
    get_policy,
    http_request,
)

pytestmark = pytest.mark.nodb

DEFAULT = EgressPolicy()
LOOPBACK = EgressPolicy(["127.0.0.0/8", "::1/128"])

# (address or spelling getaddrinfo accepts, words the refusal reason must contain)
REFUSED = [
    ("127.0.0.1", "loopback"),
    ("2130706433", "loopback"),  # decimal
    ("0x7f000001", "loopback"),  # hex
    ("0177.0.0.1", "loopback"),  # octal
    ("127.1", "loopback"),  # short
    ("::1", "loopback"),
    ("[::1]", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("0", "unspecified"),
    ("::", "unspecified"),
    ("0.1.2.3", "this network"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%lo", "link-local"),
    ("100.64.0.1", "CGNAT"),
    ("100.127.255.254", "CGNAT"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.0.8", "IETF protocol assignment"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.1", "documentation"),
    ("203.0.113.1", "documentation"),
    ("2001:db8::1", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.1", "benchmarking"),
    ("2001:2::1", "benchmarking"),
    ("fec0::1", "site-local"),
    ("100::1", "discard-only"),
    ("4000::1", "reserved"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.170.2", "cloud metadata"),
    ("169.254.170.23", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("2852039166", "cloud metadata"),  # 169.254.169.254 in decimal
    ("::ffff:127.0.0.1", "loopback: IPv4 127.0.0.1 inside IPv4-mapped"),
    ("::ffff:7f00:1", "loopback: IPv4 127.0.0.1 inside IPv4-mapped"),
    ("::ffff:169.254.169.254", "cloud metadata: IPv4 169.254.169.254 inside IPv4-mapped"),
    ("::ffff:10.0.0.1", "private"),
    ("::127.0.0.1", "loopback: IPv4 127.0.0.1 inside IPv4-compatible"),
    ("::8.8.8.8", "IPv4-compatible"),
    ("2002:7f00:1::1", "loopback: IPv4 127.0.0.1 inside 6to4"),
    ("2002:a9fe:a9fe::", "cloud metadata: IPv4 169.254.169.254 inside 6to4"),
    ("2001:0:808:808::80ff:fffe", "loopback: IPv4 127.0.0.1 inside Teredo client"),
    ("2001:0:a00:1::f7f7:f7f7", "private: IPv4 10.0.0.1 inside Teredo server"),
    ("64:ff9b::127.0.0.1", "loopback: IPv4 127.0.0.1 inside NAT64"),
    ("64:ff9b::a9fe:a9fe", "cloud metadata: IPv4 169.254.169.254 inside NAT64"),
    ("64:ff9b:1::a00:1", "private: IPv4 10.0.0.1 inside NAT64"),
    ("64:ff9b:1::808:808", "local-use NAT64"),
    ("2001:10::1", "IETF protocol assignment"),
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "192.0.1.1",
    "100.128.0.1",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
    "2001:0:808:404::f7f7:f7f7",  # Teredo: server 8.8.4.4, client 8.8.8.8
]


@pytest.mark.parametrize(("spelling", "reason"), REFUSED)
def test_it_refuses_every_form_through_resolve(spelling: str, reason: str) -> None:
    with pytest.raises(EgressForbidden) as caught:
        DEFAULT.resolve(spelling, 80)
    assert reason in caught.value.reason
    assert caught.value.host == spelling
    assert caught.value.code == "target_forbidden"


def is_literal(spelling: str) -> bool:
    try:
        ipaddress.ip_address(spelling.partition("%")[0])
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(("literal", "reason"), [r for r in REFUSED if is_literal(r[0])])
def test_it_refuses_literal_addresses(literal: str, reason: str) -> None:
    with pytest.raises(EgressForbidden) as caught:
        DEFAULT.check_address(literal)
    assert reason in caught.value.reason
    assert caught.value.address == literal


@pytest.mark.parametrize("address", ALLOWED)
def test_it_allows_globally_routable_addresses(address: str) -> None:
    assert DEFAULT.check_address(address) == ipaddress.ip_address(address)
    [resolved] = DEFAULT.resolve(address, 443)
    assert resolved.port == 443
    assert resolved.ip_version == (6 if ":" in address else 4)


def test_it_judges_the_address_a_numeric_spelling_resolves_to() -> None:
    assert DEFAULT.resolve("134744072", 80) == [ResolvedAddress(socket.AF_INET, "8.8.8.8", 80)]


def test_it_names_host_address_and_reason_in_the_message() -> None:
    with pytest.raises(EgressForbidden) as caught:
        DEFAULT.resolve("0x7f000001", 80)
    message = str(caught.value)
    assert "0x7f000001" in message
    assert "127.0.0.1" in message
    assert "loopback" in message
    assert caught.value.address == "127.0.0.1"


def test_it_refuses_localhost_by_name() -> None:
    with pytest.raises(EgressForbidden, match="loopback"):
        DEFAULT.resolve("localhost", 80)


def test_it_raises_a_resolve_error_for_a_name_that_does_not_resolve() -> None:
    with pytest.raises(EgressResolveError) as caught:
        DEFAULT.resolve("nonexistent.invalid", 80)
    assert isinstance(caught.value, OSError)
    assert caught.value.host == "nonexistent.invalid"


def test_it_raises_a_resolve_error_for_a_malformed_name() -> None:
    with pytest.raises(EgressResolveError):
        DEFAULT.resolve("a" * 70 + ".example", 80)


def test_it_refuses_non_numeric_input_to_check_address() -> None:
    with pytest.raises(ValueError, match="does not appear to be"):
        DEFAULT.check_address("localhost")


def test_it_opens_allowed_networks() -> None:
    assert str(LOOPBACK.check_address("127.0.0.1")) == "127.0.0.1"
    assert str(LOOPBACK.check_address("::1")) == "::1"
    assert LOOPBACK.resolve("2130706433", 80)[0].address == "127.0.0.1"
    assert LOOPBACK.check_address("::ffff:127.0.0.1")
    with pytest.raises(EgressForbidden, match="private"):
        LOOPBACK.check_address("10.0.0.1")


def test_it_keeps_metadata_closed_unless_listed_exactly() -> None:
    wide = EgressPolicy(["169.254.0.0/16", "fc00::/7", "::ffff:0:0/96", "0.0.0.0/0", "::/0"])
    assert wide.check_address("169.254.1.1")
    assert wide.check_address("fd00::1")
    for address in ("169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254", "169.254.170.2"):
        with pytest.raises(EgressForbidden, match="cloud metadata"):
            wide.check_address(address)
    exact = EgressPolicy(["169.254.169.254/32", "fd00:ec2::254/128"])
    assert exact.check_address("169.254.169.254")
    assert exact.check_address("fd00:ec2::254")
    with pytest.raises(EgressForbidden, match="cloud metadata"):
        exact.check_address("169.254.170.2")


def test_it_judges_the_embedded_ipv4_even_when_the_carrier_is_allowed() -> None:
    policy = EgressPolicy(["64:ff9b:1::/48"])
    assert policy.check_address("64:ff9b:1::808:808")
    with pytest.raises(EgressForbidden, match="private"):
        policy.check_address("64:ff9b:1::a00:1")


def test_it_parses_allowed_networks_from_a_comma_string() -> None:
    policy = EgressPolicy(" 127.0.0.0/8, ::1/128 ,")
    assert [str(n) for n in policy.allowed_networks] == ["127.0.0.0/8", "::1/128"]


def test_it_rejects_a_malformed_allowed_network() -> None:
    with pytest.raises(ValueError, match="not-a-network"):
        EgressPolicy(["not-a-network"])


def test_it_builds_the_policy_from_settings() -> None:
    from django.conf import settings
    from django.test import override_settings

    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        settings.configure()  # this file run on its own, outside the portal's pytest config
    with override_settings(EGRESS_ALLOWED_NETWORKS=["127.0.0.0/8"]):
        assert get_policy().check_address("127.0.0.1")
    with override_settings(EGRESS_ALLOWED_NETWORKS=[]), pytest.raises(EgressForbidden):
        get_policy().check_address("127.0.0.1")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    yield server
    server.close()


def assert_nothing_accepted(server: socket.socket) -> None:
    server.setblocking(False)
    with pytest.raises(BlockingIOError):
        server.accept()


def test_it_connects_to_an_allowed_listener(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    sock, address = LOOPBACK.connect("127.0.0.1", port, timeout=2)
    with sock:
        listener.settimeout(2)
        peer, _ = listener.accept()
        peer.close()
        assert address == ResolvedAddress(socket.AF_INET, "127.0.0.1", port)
        assert sock.getpeername() == ("127.0.0.1", port)


def test_it_refuses_to_connect_to_loopback_by_default(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    with pytest.raises(EgressForbidden, match="loopback"):
        DEFAULT.connect("localhost", port, timeout=2)
    assert_nothing_accepted(listener)


def test_it_rechecks_addresses_resolved_elsewhere(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    smuggled = [ResolvedAddress(socket.AF_INET, "127.0.0.1", port)]
    with pytest.raises(EgressForbidden):
        DEFAULT.connect("example.com", port, timeout=2, resolved=smuggled)
    assert_nothing_accepted(listener)


def test_it_tries_the_next_address_when_one_refuses(listener: socket.socket) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound but not listening: connecting is refused
    open_port = listener.getsockname()[1]
    candidates = [
        ResolvedAddress(socket.AF_INET, "127.0.0.1", closed.getsockname()[1]),
        ResolvedAddress(socket.AF_INET, "127.0.0.1", open_port),
    ]
    sock, address = LOOPBACK.connect("x", open_port, timeout=2, resolved=candidates)
    sock.close()
    closed.close()
    assert address.port == open_port
    with pytest.raises(ConnectionRefusedError):
        LOOPBACK.connect("x", 1, timeout=2, resolved=candidates[:1])


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


def test_it_makes_an_http_request(web: str) -> None:
    response = http_request("GET", f"{web}/", timeout=5, policy=LOOPBACK)
    assert (response.status, response.reason, response.body) == (200, "OK", b"hello")
    assert response.header("x-probe") == "yes"
    assert ("Content-Type", "text/plain") in response.headers
    assert not response.truncated
    assert response.http_version == "HTTP/1.1"
    assert response.address.address == "127.0.0.1"


def test_it_sends_method_headers_body_and_host(web: str) -> None:
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


def test_it_requests_a_bracketed_ipv6_url() -> None:
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


def test_it_caps_the_body(web: str) -> None:
    cut = http_request("GET", f"{web}/big", timeout=5, max_body=1000, policy=LOOPBACK)
    assert (len(cut.body), cut.truncated) == (1000, True)
    whole = http_request("GET", f"{web}/big", timeout=5, max_body=5000, policy=LOOPBACK)
    assert (len(whole.body), whole.truncated) == (5000, False)


def test_it_stops_reading_an_endless_body_at_the_cap(web: str) -> None:
    response = http_request("GET", f"{web}/endless", timeout=3, max_body=10_000, policy=LOOPBACK)
    assert response.body == b"y" * 10_000
    assert response.truncated


def test_it_returns_a_redirect_without_following_it(web: str) -> None:
    response = http_request("GET", f"{web}/redirect", timeout=5, policy=LOOPBACK)
    assert response.status == 302
    assert response.header("Location") == "/elsewhere"
    assert response.body == b"moved"
    assert "/elsewhere" not in Handler.paths


def test_it_refuses_an_http_request_to_loopback_by_default(web: str) -> None:
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
def test_it_rejects_unsupported_urls(url: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        http_request("GET", url, timeout=5, policy=LOOPBACK)


def test_it_times_out_when_the_server_never_answers(listener: socket.socket) -> None:
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        http_request("GET", url, timeout=0.3, policy=LOOPBACK)
    assert time.monotonic() - started < 2


def test_it_bounds_the_whole_exchange_by_the_timeout(web: str) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        http_request("GET", f"{web}/trickle", timeout=0.5, policy=LOOPBACK)
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


def test_it_makes_an_https_request_with_sni_and_verification(
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


def test_it_verifies_the_certificate_against_the_url_host(
    tls_web: tuple[int, Path, list[str]],
) -> None:
    port, ca, _ = tls_web
    context = ssl.create_default_context(cafile=str(ca))
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        http_request(
            "GET", f"https://127.0.0.1:{port}/", timeout=5, policy=LOOPBACK, ssl_context=context
        )


def test_it_rejects_an_untrusted_certificate(tls_web: tuple[int, Path, list[str]]) -> None:
    port, _, _ = tls_web
    with pytest.raises(ssl.SSLCertVerificationError):
        http_request("GET", f"https://localhost:{port}/", timeout=5, policy=LOOPBACK)


def test_it_skips_verification_when_told(tls_web: tuple[int, Path, list[str]]) -> None:
    port, _, _ = tls_web
    response = http_request(
        "GET", f"https://localhost:{port}/", timeout=5, policy=LOOPBACK, verify_tls=False
    )
    assert response.status == 200
