"""A fake vantage: a loopback HTTP server that speaks the vantage protocol and answers what a
test needs (slow, a malformed result, a strange signature header, another protocol version).

    with FakeVantage() as fake:
        fake.delay_s = 1.0                       # every answer waits a second
        fake.result_patch = {"result": {...}}    # merged into the engine result answered
        fake.signature = "v1=éé"                 # the reply's signature header, as raw bytes
        fake.requests, fake.paths                # the JSON bodies and paths received, in order

It signs its answers with its secret like a real vantage, unless told otherwise; it does not
verify the hub's signature (the real vantage processes in vantages.py do).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from modules.netprobe.vantages.signing import (
    PROTOCOL,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    reply_headers,
)


class FakeVantage:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.secret = secrets.token_hex(24)
        self.delay_s = 0.0
        self.result_patch: dict[str, Any] = {}
        self.protocol: str | None = PROTOCOL
        self.signature: str | None = None
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.started: list[float] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = json.loads(self.rfile.read(length) or b"{}")
                with fake._lock:
                    fake.requests.append(data)
                    fake.paths.append(self.path)
                    fake.started.append(time.monotonic())
                time.sleep(fake.delay_s)
                if self.path.endswith("/health"):
                    answer = {"status": "ok", "region": "fake", "version": "v1", "time": "now"}
                    self._answer({"request_id": data.get("request_id"), **answer})
                    return
                result = {
                    "kind": data.get("kind"),
                    "target": data.get("target"),
                    "status": "ok",
                    "error": None,
                    "started_at": datetime.now(UTC).isoformat(),
                    "duration_ms": 1.0,
                    "resolved": {"addresses": ["127.0.0.1"], "used": "127.0.0.1"},
                    "ip_version": 4,
                    "result": {},
                    **fake.result_patch,
                }
                self._answer({"request_id": data.get("request_id"), "result": result})

            def _answer(self, answer: dict[str, Any]) -> None:
                if fake.protocol is not None:
                    answer = {"protocol": fake.protocol, **answer}
                body = json.dumps(answer).encode()
                signed = reply_headers(
                    fake.secret,
                    request_signature=self.headers.get(SIGNATURE_HEADER, ""),
                    body=body,
                )
                if fake.signature is not None:
                    signed[SIGNATURE_HEADER] = fake.signature
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header(TIMESTAMP_HEADER, signed[TIMESTAMP_HEADER])
                # Raw bytes: a header that is not ASCII, as a broken proxy might send.
                self._headers_buffer.append(  # type: ignore[attr-defined]
                    f"{SIGNATURE_HEADER}: ".encode() + signed[SIGNATURE_HEADER].encode() + b"\r\n"
                )
                try:
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the hub gave up waiting: what a test of a slow vantage wants

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"

    def __enter__(self) -> FakeVantage:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
