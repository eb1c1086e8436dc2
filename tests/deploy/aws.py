"""AWS on loopback: moto's server in a subprocess, and a recorder for Lambda async invokes."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.deploy.lambda_build import REPO, SITE_PACKAGES, ZAPPA, offline_env

MOTO_SERVER = SITE_PACKAGES.parents[2] / "bin" / "moto_server"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def zappa_on_moto(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The Zappa CLI, offline, against the moto server at `endpoint`; its exit status is the
    caller's to check."""
    return subprocess.run(
        [str(ZAPPA), *args],
        cwd=REPO,
        env=offline_env(AWS_ENDPOINT_URL=endpoint, **CREDENTIALS),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """`moto_server` on 127.0.0.1 in its own process (its state is not this process's)."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> MotoServer:
        for _ in range(5):
            port = free_port()
            log = open(self.log_path, "ab")  # noqa: SIM115 (owned by the child)
            self.process = subprocess.Popen(
                [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            self.url = f"http://127.0.0.1:{port}"
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"moto_server did not start; see {self.log_path}")

    def _wait_ready(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def client(self, service: str) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        ).client(service, endpoint_url=self.url)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass(frozen=True)
class Invocation:
    function_name: str
    invocation_type: str
    payload: dict[str, Any]


class LambdaInvokeRecorder:
    """Answers Lambda's Invoke API like the service does for InvocationType=Event (202) and
    keeps each payload, so a test can deliver it to the handler as Lambda would."""

    def __init__(self) -> None:
        self.invocations: list[Invocation] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}")
                # /2015-03-31/functions/<name>/invocations
                name = self.path.split("/functions/", 1)[-1].split("/", 1)[0]
                kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
                recorder.invocations.append(Invocation(name, kind, payload))
                self.send_response(202 if kind == "Event" else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> LambdaInvokeRecorder:
        self._thread.start()
        return self

    def take(self) -> list[Invocation]:
        taken, self.invocations = self.invocations, []
        return taken

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
