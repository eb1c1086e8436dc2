"""Fixtures and helpers for the NetProbe Django tests (services, API, UI, commands).

Test modules import the fixtures they use from here; the loopback servers come from conftest.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone
from icmplib import ICMPv4Socket
from icmplib.exceptions import ICMPSocketError

LOOPBACK = ["127.0.0.0/8", "::1/128"]


def _icmp(privileged: bool) -> bool:
    try:
        ICMPv4Socket(privileged=privileged).close()
    except ICMPSocketError:
        return False
    return True


UNPRIVILEGED_ICMP = _icmp(False)
RAW_ICMP = _icmp(True)
ICMP = UNPRIVILEGED_ICMP or RAW_ICMP


@pytest.fixture
def np_settings(settings: Any, pki: Any) -> Any:
    """The test CA for https/tls, loopback allowed, SOS deliveries left to a worker."""
    settings.NETPROBE_CA_BUNDLE = str(pki.ca_file)
    settings.EGRESS_ALLOWED_NETWORKS = LOOPBACK
    settings.SOS_WAKE = "none"
    return settings


class _ClosingHandler(BaseHTTPRequestHandler):
    """HTTP/1.0: the server closes the connection after each response, as many servers do."""

    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        body = b"closing " * 512
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def closing_http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ClosingHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def make_result(**fields: Any) -> Any:
    """A stored result without the network, for history, pruning and state-machine tests."""
    from modules.netprobe.models import ProbeResult

    status = fields.pop("status", "ok")
    ago = fields.pop("ago", timedelta(0))
    values: dict[str, Any] = {
        "kind": "tcp",
        "target": "example.com:443",
        "status": status,
        "error_code": "" if status == "ok" else "connect",
        "error_message": "" if status == "ok" else "connection refused",
        "started_at": timezone.now() - ago,
        "duration_ms": 12.5,
        "response_ms": 10.0 if status == "ok" else None,
        "resolved": {"addresses": ["93.184.216.34"], "used": "93.184.216.34"},
        "ip_version": 4,
        "result": {},
    }
    values.update(fields)
    return ProbeResult.objects.create(**values)
