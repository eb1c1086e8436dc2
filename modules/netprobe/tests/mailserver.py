"""Just enough SMTP, IMAP and POP3 to answer a STARTTLS upgrade, then a TLS handshake."""

from __future__ import annotations

import socket
import socketserver
import ssl
import time

from .background import Background


class _Handler(socketserver.StreamRequestHandler):
    server: StartTlsServer
    rbufsize = 0  # never read ahead into the client's TLS handshake

    def handle(self) -> None:
        self.request.settimeout(5)
        # Each reply line is its own write; without NODELAY, Nagle + delayed ACK add 40 ms.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if self._dialogue():
                tls = self.server.tls.wrap_socket(self.request, server_side=True)
                tls.recv(1024)  # wait for the client to hang up
                tls.close()
        except OSError:
            return

    def _line(self) -> str:
        return self.rfile.readline(1024).decode("ascii", "replace").strip()

    def _say(self, text: str) -> None:
        self.wfile.write(text.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def _dialogue(self) -> bool:
        protocol = self.server.protocol
        if protocol == "smtp":
            for i in range(12 if self.server.greeting_pause else 0):
                # A greeting trickled line by line: each line comes well inside a read timeout.
                self._say(f"220-slow greeting line {i}")
                time.sleep(self.server.greeting_pause)
            self._say("220-mail.netprobe.test ESMTP test server")
            self._say("220 ready")
            while True:
                line = self._line().upper()
                if line.startswith("EHLO"):
                    self._say("250-mail.netprobe.test greets you")
                    self._say("250-SIZE 10240000")
                    if self.server.offer_starttls:
                        self._say("250-STARTTLS")
                    self._say("250 8BITMIME")
                elif line == "STARTTLS" and self.server.offer_starttls:
                    self._say("220 2.0.0 go ahead")
                    return True
                else:
                    self._say("221 bye")
                    return False
        if protocol == "imap":
            self._say("* OK [CAPABILITY IMAP4rev1 STARTTLS] test server ready")
            tag, _, command = self._line().partition(" ")
            if command.upper() == "STARTTLS":
                self._say(f"{tag} OK begin TLS negotiation now")
                return True
            self._say(f"{tag} BAD unknown command")
            return False
        self._say("+OK test POP3 server ready")
        if self._line().upper() == "STLS":
            self._say("+OK begin TLS negotiation")
            return True
        self._say("-ERR unknown command")
        return False


class StartTlsServer(Background, socketserver.ThreadingTCPServer):
    """`protocol` is smtp, imap or pop3; TLS with `tls` after the upgrade.

    `greeting_pause` (smtp) trickles a long greeting, one line every that many seconds."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        protocol: str,
        tls: ssl.SSLContext,
        *,
        host: str = "127.0.0.1",
        offer_starttls: bool = True,
        greeting_pause: float = 0.0,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.protocol, self.tls, self.offer_starttls = protocol, tls, offer_starttls
        self.greeting_pause = greeting_pause  # smtp: 12 extra greeting lines this far apart
        super().__init__((host, 0), _Handler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def target(self) -> str:
        host = self.server_address[0]
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
