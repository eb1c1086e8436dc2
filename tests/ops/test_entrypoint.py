"""The image's entrypoint, run from the checkout (no Docker engine here) with the pilot's
ConfigMap as environment: migrate, web answering the probes on the port the manifests probe and
stopping on SIGTERM, the SOS worker, the monitors, the daily prune, the hand-over to Zappa's
handler on Lambda."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ops.support import ENTRYPOINT, REPO, Doc, one

# Each test uses its own SQLite file, never the suite's database: left out of the PostgreSQL pass.
pytestmark = pytest.mark.nodb

FOUNDATION = (REPO / "portal" / "wsgi.py", REPO / "portal" / "health.py", REPO / "manage.py")


def base_env(tmp_path: Path) -> dict[str, str]:
    # A clean environment: nothing of the test process (DJANGO_SETTINGS_MODULE above all) leaks in.
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PYTHON": sys.executable,
        # As the image's ENV sets it: logs reach the container runtime line by line.
        "PYTHONUNBUFFERED": "1",
    }


def test_is_valid_posix_sh() -> None:
    assert os.access(ENTRYPOINT, os.X_OK)
    subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=True)


def test_runs_any_other_command_from_the_app_dir(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(ENTRYPOINT), "sh", "-c", 'echo "$APP_DIR|$(pwd)"'],
        env=base_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == f"{REPO}|{REPO}"


def test_hands_over_to_zappas_handler_on_lambda(tmp_path: Path) -> None:
    # The base image's /lambda-entrypoint.sh cannot run here; a stand-in records its arguments.
    launcher = tmp_path / "lambda-entrypoint.sh"
    launcher.write_text('#!/bin/sh\necho "$#:$1:$(pwd)"\n')
    launcher.chmod(0o755)
    env = {
        **base_env(tmp_path),
        "LAMBDA_ENTRYPOINT": str(launcher),
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
    }
    for args in ([], ["web"], ["worker"]):
        result = subprocess.run(
            [str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, check=True
        )
        assert result.stdout.strip() == f"1:zappa.handler.lambda_handler:{REPO}"
    # Without the runtime API, `lambda` runs the same launcher (under the emulator in the image).
    del env["AWS_LAMBDA_RUNTIME_API"]
    result = subprocess.run(
        [str(ENTRYPOINT), "lambda"], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == f"1:zappa.handler.lambda_handler:{REPO}"


def test_names_a_handler_that_zappa_provides() -> None:
    pytest.importorskip("zappa", reason="zappa is not installed (requirements.txt has it)")
    import importlib.util

    assert importlib.util.find_spec("zappa.handler") is not None
    source = Path(importlib.util.find_spec("zappa.handler").origin).read_text()
    assert "def lambda_handler(" in source


def probed_port(raw_docs: list[Doc]) -> tuple[int, str]:
    """The container port the pilot Deployment's readiness probe targets, and its Host header."""
    (web,) = one(raw_docs, "Deployment", "portal-netprobe")["spec"]["template"]["spec"][
        "containers"
    ]
    probe = web["readinessProbe"]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in web["ports"]}
    port = ports[probe["port"]] if isinstance(probe["port"], str) else probe["port"]
    host = next(h["value"] for h in probe["httpHeaders"] if h["name"] == "Host")
    return port, host


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def get(port: int, path: str, host: str, **headers: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host, **headers})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# The address the pod gets: the ALB's health checks send it as the Host header.
POD_IP = "10.0.1.23"


def kubelet_env(container: Doc, pod_ip: str) -> dict[str, str]:
    """The container's env as the kubelet sets it: status.podIP filled in, $(VAR) expanded."""
    env: dict[str, str] = {}
    for entry in container.get("env", []):
        if "valueFrom" in entry:
            assert entry["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}, entry
            env[entry["name"]] = pod_ip
        else:
            env[entry["name"]] = re.sub(
                r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), entry["value"]
            )
    return env


@pytest.fixture(scope="module")
def pilot_env(tmp_path_factory: pytest.TempPathFactory, raw_docs: list[Doc]) -> dict[str, str]:
    """The pilot's ConfigMap, its Secret's keys filled for a test, the container's env."""
    tmp_path = tmp_path_factory.mktemp("pilot")
    configmap = one(raw_docs, "ConfigMap", "portal-netprobe")["data"]
    (web,) = one(raw_docs, "Deployment", "portal-netprobe")["spec"]["template"]["spec"][
        "containers"
    ]
    env = {
        **base_env(tmp_path),
        **configmap,
        **kubelet_env(web, POD_IP),
        "SECRET_KEY": "entrypoint-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "STATIC_ROOT": str(tmp_path / "static"),
        # Loopback only; in the pod it is 0.0.0.0.
        "BIND_ADDRESS": "127.0.0.1",
        "LOG_FORMAT": "text",
    }
    assert env["PORTAL_MODULES"] == "netprobe"
    return env


@pytest.fixture(scope="module")
def migrated_env(pilot_env: dict[str, str]) -> dict[str, str]:
    """`migrate` mode as the migration Job runs it, on a fresh SQLite database."""
    if not all(p.is_file() for p in FOUNDATION):
        pytest.skip(
            "the Django foundation (manage.py, portal/wsgi.py, portal/health.py) is missing"
        )
    subprocess.run([str(ENTRYPOINT), "migrate"], env=pilot_env, check=True, timeout=180)
    database = Path(pilot_env["DATABASE_URL"].removeprefix("sqlite:///"))
    with sqlite3.connect(database) as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master")}
    assert "django_migrations" in tables
    assert pilot_env["CACHE_URL"].removeprefix("db://") in tables  # createcachetable ran
    return pilot_env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(ENTRYPOINT), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def is_exec_of(process: subprocess.Popen[bytes], program: bytes) -> bool:
    """exec: the entrypoint's process *is* the program, so SIGTERM from the kubelet reaches it."""
    cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
    return any(program in part for part in cmdline)


def test_serves_healthz_and_readyz_on_the_probed_port_and_stops_on_sigterm(
    tmp_path: Path, migrated_env: dict[str, str], raw_docs: list[Doc]
) -> None:
    env = dict(migrated_env)
    # The image's build-time static step, through the pass-through mode.
    subprocess.run(
        [str(ENTRYPOINT), sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        env=env,
        check=True,
        timeout=180,
    )
    port, host = probed_port(raw_docs)
    assert int(env["PORT"]) == port, "the container's PORT is the probed port"
    if not port_is_free(port):
        # Something else on this machine holds the probed port: serve elsewhere, the mapping of
        # probe -> PORT was checked above.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            env["PORT"] = str(s.getsockname()[1])
            port = int(env["PORT"])
    log = tmp_path / "web.log"
    process = start(["web"], env, log)
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                status, _ = get(port, "/healthz", host)
                break
            except OSError:
                time.sleep(0.2)
        assert status == 200, log.read_text()
        # An ALB health check (target-type ip) names the pod by its address; another address
        # is still refused.
        assert get(port, "/healthz", f"{POD_IP}:{port}")[0] == 200
        assert get(port, "/healthz", "10.0.9.9")[0] == 400

        status, body = get(port, "/readyz", host)
        assert status == 200, body
        assert b'"status": "ok"' in body

        # Other paths redirect to HTTPS unless the ingress says the request came over TLS.
        status, _ = get(port, "/static/css/portal.css", host)
        assert status == 301
        status, _ = get(port, "/static/css/portal.css", host, **{"X-Forwarded-Proto": "https"})
        assert status == 200  # WhiteNoise serves STATIC_ROOT

        assert is_exec_of(process, b"gunicorn")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=int(env["GUNICORN_GRACEFUL_TIMEOUT"]) + 10) == 0
    finally:
        stop(process)
    output = log.read_text()
    assert f"Listening at: http://127.0.0.1:{port}" in output
    assert "Shutting down" in output
    assert '"GET /readyz HTTP/1.1" 200' in output  # the access log goes to stdout


@pytest.mark.skipif(
    not (REPO / "modules/sos/management/commands/sos_worker.py").is_file(),
    reason="the sos_worker command is not there yet",
)
def test_runs_the_sos_worker_until_sigterm(tmp_path: Path, migrated_env: dict[str, str]) -> None:
    env = {**migrated_env, "PORTAL_MODULES": "sos"}
    log = tmp_path / "worker.log"
    process = start(["worker"], env, log)
    try:
        deadline = time.monotonic() + 60
        while "polling" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert is_exec_of(process, b"sos_worker")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        stop(process)


@pytest.mark.skipif(
    not (REPO / "modules/netprobe/management/commands/netprobe_run_monitors.py").is_file(),
    reason="the netprobe_run_monitors command is not there yet",
)
def test_runs_the_monitors_once(migrated_env: dict[str, str]) -> None:
    result = subprocess.run(
        [str(ENTRYPOINT), "monitors"], env=migrated_env, capture_output=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


# One row past its retention and one within it, for each module with something to prune: a
# NetProbe result, and a face comparison whose photo is stored on disk (FACES_STORE_IMAGES).
PRUNE_SEED = """
from datetime import timedelta
from django.core.files.base import ContentFile
from django.utils import timezone
from modules.faces.models import Comparison
from modules.netprobe.models import ProbeResult
from modules.sos.models import InboundMessage
now = timezone.now()
for started_at in (now - timedelta(days=400), now):
    ProbeResult.objects.create(
        kind="http", target="https://example.com/", status="ok", started_at=started_at,
        duration_ms=1.0,
    )
for created_at in (now - timedelta(days=400), now):
    comparison = Comparison(created_at=created_at, verdict="match", threshold=0.6)
    comparison.image_a.save("a.jpg", ContentFile(b"a stored photo"), save=False)
    comparison.save()
for n, received_at in enumerate((now - timedelta(days=400), now)):
    record = InboundMessage.objects.create(provider="sns-sms", message_id=f"sns-{n}")
    InboundMessage.objects.filter(pk=record.pk).update(received_at=received_at)
"""

# The releases' PORTAL_MODULES (tests/ops/test_chart.py checks the ConfigMaps carry them) and
# what `prune` must run for them; None: PORTAL_MODULES unset, every module.
PRUNES = {
    "netprobe": ("netprobe",),
    "faces": ("faces",),
    "netprobe,sos,faces": ("netprobe", "sos", "faces"),
    "sos": ("sos",),
    None: ("netprobe", "sos", "faces"),
    # Read as portal/settings.py reads it: blanks around names, each module once.
    " faces , netprobe,faces": ("faces", "netprobe"),
}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, migrated_env: dict[str, str]) -> Path:
    """A copy of the migrated database with PRUNE_SEED's rows, and its media directory."""
    root = tmp_path_factory.mktemp("seeded")
    shutil.copy(migrated_env["DATABASE_URL"].removeprefix("sqlite:///"), root / "db.sqlite3")
    env = {**prune_env(migrated_env, root), "PORTAL_MODULES": "netprobe,sos,faces"}
    subprocess.run(
        [str(ENTRYPOINT), sys.executable, "manage.py", "shell", "-c", PRUNE_SEED],
        env=env,
        check=True,
        timeout=120,
    )
    assert len(list((root / "media").rglob("*.jpg"))) == 2
    return root


def prune_env(env: dict[str, str], root: Path) -> dict[str, str]:
    return {
        **env,
        "DATABASE_URL": f"sqlite:///{root / 'db.sqlite3'}",
        "MEDIA_ROOT": str(root / "media"),
    }


@dataclass(frozen=True)
class Left:
    """What is left after a run: NetProbe results, stored photos, comparison rows, SOS
    inbound reply records."""

    results: int
    photos: int
    comparisons: int
    inbound: int


def left(root: Path) -> Left:
    with sqlite3.connect(root / "db.sqlite3") as db:
        results = db.execute("select count(*) from netprobe_proberesult").fetchone()[0]
        comparisons = db.execute("select count(*) from faces_comparison").fetchone()[0]
        inbound = db.execute("select count(*) from sos_inboundmessage").fetchone()[0]
    return Left(results, len(list((root / "media").rglob("*.jpg"))), comparisons, inbound)


def run_prune(
    seeded: Path, tmp_path: Path, env: dict[str, str], modules: str | None, *args: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    root = tmp_path / "run"
    shutil.copytree(seeded, root)
    run_env = prune_env(env, root)
    if modules is None:
        del run_env["PORTAL_MODULES"]
    else:
        run_env["PORTAL_MODULES"] = modules
    result = subprocess.run(
        [str(ENTRYPOINT), "prune", *args],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, root


@pytest.mark.parametrize("modules", list(PRUNES))
def test_prunes_the_modules_portal_modules_enables(
    tmp_path: Path, migrated_env: dict[str, str], seeded: Path, modules: str | None
) -> None:
    result, root = run_prune(seeded, tmp_path, migrated_env, modules)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    expected = PRUNES[modules]
    ran = re.findall(r"^prune: (\w+) \(manage\.py (\w+)\)$", result.stdout, re.MULTILINE)
    assert ran == [(m, f"{m}_prune") for m in expected]
    # What each command pruned, as it printed it; the recent rows stay.
    pruned_results = "netprobe" in expected
    assert ("Deleted 1 NetProbe result(s) older than 90 day(s)." in output) == pruned_results
    pruned_photos = "faces" in expected
    assert ("deleted 1 photo(s) of 1 comparison(s) older than" in output) == pruned_photos
    pruned_inbound = "sos" in expected
    assert ("Deleted 1 inbound reply record(s) older than 30 day(s)." in output) == pruned_inbound
    assert left(root) == Left(
        results=1 if pruned_results else 2,
        photos=1 if pruned_photos else 2,
        comparisons=2,  # the metadata stays
        inbound=1 if pruned_inbound else 2,
    )
    assert "prune: nothing to prune" not in result.stdout


def test_prunes_the_other_module_when_one_fails_and_then_fails(
    tmp_path: Path, migrated_env: dict[str, str], seeded: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(seeded, broken)
    with sqlite3.connect(broken / "db.sqlite3") as db:
        db.execute("drop table netprobe_proberesult")
    result, root = run_prune(broken, tmp_path, migrated_env, "netprobe,faces")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "netprobe_proberesult" in result.stderr
    assert "deleted 1 photo(s) of 1 comparison(s)" in result.stdout
    assert len(list((root / "media").rglob("*.jpg"))) == 1


def test_refuses_arguments_to_prune(tmp_path: Path) -> None:
    # netprobe_prune and faces_prune take different options: none is passed on.
    result = subprocess.run(
        [str(ENTRYPOINT), "prune", "--days", "3"],
        env={**base_env(tmp_path), "PORTAL_MODULES": "netprobe"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 64
    assert "prune takes no arguments" in result.stderr
    assert result.stdout == ""
