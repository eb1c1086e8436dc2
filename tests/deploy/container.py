"""Client side of lambda_driver.py: start a simulated Lambda execution environment, invoke it."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.deploy.lambda_build import SITE_PACKAGES

DRIVER = Path(__file__).with_name("lambda_driver.py")


@dataclass
class HttpResponse:
    """A proxy-integration response as API Gateway would turn it into HTTP."""

    status: int
    headers: dict[str, str]
    body: bytes
    cookies: list[str] = field(default_factory=list)
    base64: bool = False
    raw: dict[str, Any] = field(default_factory=dict)
    log: str = field(default="", repr=False)

    def __repr__(self) -> str:
        text = f"HttpResponse({self.status}, {self.headers!r}, {self.body[:2000]!r})"
        return text + (f"\n--- Lambda log ---\n{self.log}" if self.log else "")

    def json(self) -> Any:
        return json.loads(self.body)

    @classmethod
    def from_lambda(cls, raw: dict[str, Any]) -> HttpResponse:
        body = raw.get("body") or ""
        encoded = bool(raw.get("isBase64Encoded"))
        data = base64.b64decode(body) if encoded else body.encode("utf-8")
        headers = {key.lower(): value for key, value in (raw.get("headers") or {}).items()}
        cookies = list(raw.get("cookies") or [])
        multi = raw.get("multiValueHeaders") or {}
        for key, values in multi.items():
            if key.lower() == "set-cookie":
                cookies.extend(values)
        # Django writes " name=value" (SimpleCookie.output(header="")); HTTP trims the space.
        cookies = [cookie.strip() for cookie in cookies]
        return cls(raw["statusCode"], headers, data, cookies, encoded, raw)


class LambdaError(AssertionError):
    """The handler raised (Lambda would report the invocation as failed)."""


class LambdaContainer:
    """One warm Lambda execution environment: a subprocess running Zappa's handler."""

    def __init__(
        self,
        paths: Sequence[Path],
        env: Mapping[str, str],
        log_path: Path,
        *,
        timeout: float = 120.0,
        pycache_prefix: Path | None = None,
        handler: str = "handler",
        audit_compiles: bool = False,
    ) -> None:
        self.log_path = log_path
        self.timeout = timeout
        self._log = open(log_path, "ab")  # noqa: SIM115 (closed in close())
        # -S -I: no site-packages, no PYTHON* variables; -B: like Lambda's read-only task root,
        # nothing is written back as bytecode.
        args = [sys.executable, "-S", "-I", "-B"]
        if pycache_prefix is not None:
            args += ["-X", f"pycache_prefix={pycache_prefix}"]
        args.append(str(DRIVER))
        for path in paths:
            args += ["--path", str(path)]
        args += ["--handler", handler] + (["--audit-compiles"] if audit_compiles else [])
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=dict(env),
            cwd=str(paths[0]),
        )
        self._buffer = b""
        ready = self._read()
        self.import_seconds: float = ready["ready"]

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        deadline = time.monotonic() + self.timeout
        fd = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LambdaError(f"no answer within {self.timeout}s; log:\n{self.log_tail()}")
            readable, _, _ = select.select([fd], [], [], remaining)
            if readable:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise LambdaError(f"the container exited; log:\n{self.log_tail()}")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def invoke(self, event: dict[str, Any]) -> Any:
        self._send({"event": event})
        answer = self._read()
        if "error" in answer:
            raise LambdaError(answer["error"] + "\nlog:\n" + self.log_tail())
        self.last_seconds = answer["seconds"]
        return answer["response"]

    def http(self, event: dict[str, Any]) -> HttpResponse:
        raw = self.invoke(event)
        assert isinstance(raw, dict), raw
        assert "statusCode" in raw, raw
        response = HttpResponse.from_lambda(raw)
        if response.status >= 500:
            response.log = self.log_tail()
        return response

    def modules(self) -> dict[str, str | None]:
        """Every module the environment imported so far, with the file it came from."""
        self._send({"op": "modules"})
        return self._read()["modules"]

    def compiled(self) -> list[str]:
        """Source files compiled so far (needs audit_compiles=True): bytecode that was not used."""
        self._send({"op": "compiled"})
        return self._read()["compiled"]

    def peak_rss_mib(self) -> float:
        """The process's high-water resident memory (what Lambda reports as Max Memory Used)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
        return kib / 1024

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the environment has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, size: int = 6000) -> str:
        self._log.flush()
        data = self.log_path.read_bytes()
        return data[-size:].decode("utf-8", "replace")

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self._send({"op": "exit"})
                self.process.wait(timeout=10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self) -> LambdaContainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_task_root(dest: Path, python_settings: Path) -> Path:
    """A task root for running the repository's code: what `zappa package` puts at the zip root
    (Zappa's handler.py and the generated zappa_settings.py); the project comes on sys.path."""
    dest.mkdir(parents=True, exist_ok=True)
    spec = importlib.util.find_spec("zappa.handler")
    assert spec is not None
    assert spec.origin is not None
    shutil.copyfile(spec.origin, dest / "handler.py")
    if python_settings != dest / "zappa_settings.py":
        shutil.copyfile(python_settings, dest / "zappa_settings.py")
    return dest


def lambda_env(task_root: Path, *, function_name: str = "portal-dev", **extra: str) -> dict:
    """The environment Lambda gives a python3.12 function, plus test credentials."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "HOME": str(task_root),
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "PORTAL_TEST_FUNCTION_NAME": function_name,
    }
    env.update(extra)
    return env


def repo_paths(task_root: Path) -> list[Path]:
    from tests.deploy.lambda_build import REPO

    return [task_root, REPO, SITE_PACKAGES]
