from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modules.netprobe.probes import Limits
from portal.egress import EgressPolicy

# Monitors across locations: real engine answers to play rounds with.
from .locations_support import answers  # noqa: F401
from .servers import (
    ClosedPort,
    LoopbackDNSServer,
    LoopbackHTTPServer,
    StartTlsServer,
    TcpListener,
    TestPKI,
)

# The Django tests' fixtures (settings for the test CA, an HTTP/1.0 server).
from .support import closing_http_server, np_settings  # noqa: F401

LOOPBACK = ["127.0.0.0/8", "::1/128"]


@pytest.fixture
def policy() -> EgressPolicy:
    return EgressPolicy(allowed_networks=LOOPBACK)


@pytest.fixture
def limits() -> Limits:
    return Limits()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(Path(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="session")
def http_server() -> Iterator[LoopbackHTTPServer]:
    with LoopbackHTTPServer() as server:
        yield server


@pytest.fixture(scope="session")
def http6_server() -> Iterator[LoopbackHTTPServer]:
    with LoopbackHTTPServer("::1") as server:
        yield server


@pytest.fixture(scope="session")
def https_server(pki: TestPKI) -> Iterator[LoopbackHTTPServer]:
    with LoopbackHTTPServer(tls=pki.valid.server_context()) as server:
        yield server


@pytest.fixture(scope="session")
def https_expired(pki: TestPKI) -> Iterator[LoopbackHTTPServer]:
    with LoopbackHTTPServer(tls=pki.expired.server_context()) as server:
        yield server


@pytest.fixture(scope="session")
def https_self_signed(pki: TestPKI) -> Iterator[LoopbackHTTPServer]:
    with LoopbackHTTPServer(tls=pki.self_signed.server_context()) as server:
        yield server


@pytest.fixture(scope="session")
def tcp_listener() -> Iterator[TcpListener]:
    with TcpListener() as listener:
        yield listener


@pytest.fixture
def closed_port() -> Iterator[ClosedPort]:
    with ClosedPort() as port:
        yield port


@pytest.fixture(scope="session")
def dns_server() -> Iterator[LoopbackDNSServer]:
    with LoopbackDNSServer() as server:
        yield server


def _mail(protocol: str, pki: TestPKI, **kwargs: bool) -> Iterator[StartTlsServer]:
    with StartTlsServer(protocol, pki.valid.server_context(alpn=()), **kwargs) as server:
        yield server


@pytest.fixture(scope="session")
def smtp_server(pki: TestPKI) -> Iterator[StartTlsServer]:
    yield from _mail("smtp", pki)


@pytest.fixture(scope="session")
def imap_server(pki: TestPKI) -> Iterator[StartTlsServer]:
    yield from _mail("imap", pki)


@pytest.fixture(scope="session")
def pop3_server(pki: TestPKI) -> Iterator[StartTlsServer]:
    yield from _mail("pop3", pki)


@pytest.fixture(scope="session")
def smtp_without_starttls(pki: TestPKI) -> Iterator[StartTlsServer]:
    yield from _mail("smtp", pki, offer_starttls=False)
