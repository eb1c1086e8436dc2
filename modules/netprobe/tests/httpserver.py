"""A threaded loopback HTTP(S) server with the paths the http probe tests need.

Paths (GET and HEAD):
  /                          200 "hello from netprobe"
  /status/<code>             that status
  /delay/<ms>                200 after <ms> milliseconds (before any byte is sent)
  /slow-body/<ms>            headers at once, half the body, <ms> pause, the rest
  /slow-headers/<ms>         the status line, then one header line every <ms> ms (12 of them)
  /trickle-body/<ms>         headers at once, then a 12-byte body one byte every <ms> ms
  /redirect/<n>              302 to /redirect/<n-1>; /redirect/0 answers 200
  /redirect-to?url=U&status=S  S (default 302) with Location U (e.g. http://169.254.169.254/)
  /bytes/<n>                 n bytes of text
  /padded?pad=N&tail=T       N bytes of "x", then T (a keyword far into the body)
  /text?body=B&type=T        B with Content-Type T (keyword and regex bodies)
  /headers                   a response with HSTS, Cache-Control, ETag ...
"""

from __future__ import annotations

import socket
import socketserver
import ssl
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .background import Background


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "NetProbeTest/1.0"
    disable_nagle_algorithm = True  # headers and body are separate writes

    def do_GET(self) -> None:
        self._route()

    def do_HEAD(self) -> None:
        self._route()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _route(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        segments = [s for s in parts.path.split("/") if s]
        name, arg = ([*segments, "", ""])[:2]
        if not segments:
            self._send(200, b"hello from netprobe")
        elif name == "status" and arg.isdigit():
            self._send(int(arg), f"status {arg}".encode())
        elif name == "delay" and arg.isdigit():
            time.sleep(int(arg) / 1000)
            self._send(200, f"delayed {arg} ms".encode())
        elif name == "slow-body" and arg.isdigit():
            self._slow_body(int(arg))
        elif name == "slow-headers" and arg.isdigit():
            self._slow_headers(int(arg))
        elif name == "trickle-body" and arg.isdigit():
            self._trickle_body(int(arg))
        elif name == "redirect" and arg.isdigit():
            n = int(arg)
            if n == 0:
                self._send(200, b"end of the redirect chain")
            else:
                self._send(302, b"", {"Location": f"/redirect/{n - 1}"})
        elif name == "redirect-to" and "url" in query:
            status = int(query.get("status", "302"))
            self._send(status, b"", {"Location": query["url"]})
        elif name == "bytes" and arg.isdigit():
            self._send(200, b"x" * int(arg))
        elif name == "padded":
            pad = int(query.get("pad", "0"))
            self._send(200, b"x" * pad + query.get("tail", "").encode())
        elif name == "text":
            content_type = query.get("type", "text/plain; charset=utf-8")
            self._send(200, query.get("body", "").encode(), {"Content-Type": content_type})
        elif name == "headers":
            extra = {
                "Strict-Transport-Security": "max-age=31536000",
                "Cache-Control": "no-store",
                "ETag": '"netprobe"',
                "X-Not-Selected": "hidden",
            }
            self._send(200, b"headers", extra)
        else:
            self._send(404, b"not found")

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        headers = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _slow_body(self, pause_ms: int) -> None:
        body = b"y" * 2000
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        self.wfile.write(body[:1000])
        self.wfile.flush()
        time.sleep(pause_ms / 1000)
        self.wfile.write(body[1000:])

    def _slow_headers(self, pause_ms: int) -> None:
        # Each line arrives well inside any per-read timeout; only a whole-probe deadline ends it.
        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for i in range(12):
            self.wfile.flush()
            time.sleep(pause_ms / 1000)
            self.wfile.write(f"X-Slow-{i}: {i}\r\n".encode())
        self.wfile.write(b"Content-Length: 2\r\n\r\nok")

    def _trickle_body(self, pause_ms: int) -> None:
        body = b"trickled...."
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        for i in range(len(body)):
            self.wfile.write(body[i : i + 1])
            self.wfile.flush()
            time.sleep(pause_ms / 1000)


class LoopbackHTTPServer(Background, ThreadingHTTPServer):
    """Serves on 127.0.0.1 (or ::1) on a free port; TLS when given a server context."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.tls = tls
        super().__init__((host, 0), Handler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        host = self.server_address[0]
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a reverse DNS lookup that can stall on loopback.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[0], self.server_address[1]

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        if self.tls is not None:
            # The handshake happens in the request thread (finish_request), not the accept loop.
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            try:
                request.settimeout(5)
                request.do_handshake()
            except OSError:
                return  # the client refused our certificate: expected in the TLS tests
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up early are part of the tests
