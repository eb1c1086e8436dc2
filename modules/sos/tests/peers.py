"""Real peers on loopback for the SOS tests and the benchmark: SMTP (aiosmtpd), an HTTP
receiver for webhooks, and moto in server mode for SES and SNS. Django-free."""

from __future__ import annotations

import email
import email.parser
import email.policy
import json
import socket
import threading
import time
import urllib.request
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MailHandler:
    """aiosmtpd handler. Modes: accept, tempfail_once (451 then 250 per address), tempfail
    (always 451), reject (550)."""

    def __init__(self, *, headers_only: bool = False) -> None:
        self.mode = "accept"
        self.headers_only = headers_only
        self.messages: list[email.message.EmailMessage] = []
        self.refused: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.mode == "reject":
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such user"
        if self.mode == "tempfail" or (self.mode == "tempfail_once" and not self.refused[address]):
            with self._lock:
                self.refused[address] += 1
            return f"451 4.7.1 <{address}>: Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.headers_only:  # what the benchmark needs, at a fraction of the parsing cost
            parser = email.parser.BytesHeaderParser(policy=email.policy.default)
            message = parser.parsebytes(envelope.content)
        else:
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 2.0.0 Ok: queued"

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def keys(self) -> list[str]:
        with self._lock:
            return [str(m["X-Portal-Delivery"]) for m in self.messages]


class SmtpServer:
    def __init__(self, port: int | None = None, handler: MailHandler | None = None) -> None:
        self.port = port or free_port()
        self.handler = handler or MailHandler()
        self._controller: Any = None

    def start(self) -> SmtpServer:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        return self.handler.messages


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """An HTTP server that records every request and answers from a per-path script
    (then 200)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.scripts: dict[str, deque[Reply]] = {}
        self.on_request: Any = None
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                item = Received(self.command, self.path, dict(self.headers.items()), body)
                with receiver._lock:
                    receiver.requests.append(item)
                    script = receiver.scripts.get(path)
                    reply = script.popleft() if script else Reply()
                if receiver.on_request is not None:
                    receiver.on_request(item)
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(reply.body)

            do_POST = do_GET = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *replies: Reply | int) -> None:
        items = [r if isinstance(r, Reply) else Reply(status=r) for r in replies]
        with self._lock:
            self.scripts[path] = deque(items)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?", 1)[0] == path]


class MotoServer:
    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)

    def start(self) -> MotoServer:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=5).close()

    def data(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=5) as response:
            return json.load(response)

    def sent_sms(self) -> list[dict[str, Any]]:
        return self.data().get("sns", {}).get("SMS", [])

    def sent_emails(self) -> list[dict[str, Any]]:
        return self.data().get("ses", {}).get("Message", [])
