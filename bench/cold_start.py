"""Lambda cold start of what ships, against a bare Django app with bytecode, same machine, same run.

A cold start is what a new execution environment does before its first answer: start Python,
import the handler module, build Zappa's LambdaHandler (the remote env from S3, the settings
module, Django's setup, the WSGI app) and answer GET /healthz. Every app runs through
tests/deploy/lambda_driver.py in a fresh `python -S -I -B` (no site-packages, nothing written
back, sys.path set like Lambda's bootstrap), and measured from spawning the interpreter to the
answer: CPU (user + system of the environment, the steadier figure and the target) and wall.

- zip: the production package exactly as `make lambda-package` builds it (`zappa package`, then
  ops/serverless/bytecode.py), unpacked, with the models layer and the runtime's boto3 after it;
  its secrets come from the remote env on a moto server on loopback, as on Lambda from S3.
- zip, source only: the same unpacked files without their `.pyc` (what the zip shipped before).
- image: the image's /var/task reproduced from the tree without Docker
  (tests/deploy/image_build.py: the Dockerfile's pip install, .dockerignore'd copy,
  collectstatic, Zappa settings and compileall --invalidation-mode unchecked-hash), handler
  `zappa.handler` as the image's entrypoint names it.
- bare Django: `django-admin startproject` plus a /healthz view, compiled like the image, with
  this venv's site-packages (pip wrote their bytecode) and the same Zappa handler.

Runs rotate through the apps; medians are compared. An untimed first start of each warms the disk
cache and counts the modules it compiled from source (an audit hook on compile()).

Run from the repository root: .venv/bin/python bench/cold_start.py  (COLD_START_RUNS=7)
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.deploy import events  # noqa: E402
from tests.deploy.aws import MotoServer  # noqa: E402
from tests.deploy.container import LambdaContainer, lambda_env, make_task_root  # noqa: E402
from tests.deploy.image_build import UNCHECKED, build_image_app, image_stage  # noqa: E402
from tests.deploy.lambda_build import (  # noqa: E402
    SITE_PACKAGES,
    build_models_layer,
    build_package,
    runtime_provided_dir,
    save_python_settings,
    stage_settings,
    unpack,
)

RUNS = int(os.environ.get("COLD_START_RUNS", "7"))
TARGET_RATIO = 1.5
BARE = "bare Django"
FIND_MODELS = (
    "import sys; sys.path.insert(0, '.')\n"
    "from modules.faces.engine.dlib_models import find_models_dir\n"
    "print(find_models_dir())"
)
HEALTHZ = """
from django.http import JsonResponse
from django.urls import path


def healthz(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [path("healthz", healthz)]
"""


@dataclass(frozen=True)
class App:
    name: str
    paths: list[Path]
    env: dict[str, str]
    handler: str = "handler"
    host: str = events.REST_HOST


@dataclass(frozen=True)
class Start:
    wall: float
    cpu: float


def compileall(directory: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *UNCHECKED, str(directory)],
        check=True,
    )


def secrets_on_s3(moto: MotoServer, root: Path) -> None:
    """Zappa's remote_env for production (the image stage shares it) and the S3 buckets."""
    settings = stage_settings("production")
    s3 = moto.client("s3")
    env = settings["environment_variables"]
    for bucket in (env["AWS_STORAGE_BUCKET_NAME"], env["AWS_MEDIA_BUCKET_NAME"]):
        s3.create_bucket(Bucket=bucket)
    bucket, key = settings["remote_env"].removeprefix("s3://").split("/", 1)
    s3.create_bucket(Bucket=bucket)
    values = {"SECRET_KEY": secrets.token_urlsafe(50), "DATABASE_URL": f"sqlite:///{root / 'db'}"}
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(values).encode())


def zip_apps(root: Path, moto: MotoServer) -> list[App]:
    package = build_package("production")
    task_root = unpack(package)
    _, layer = build_models_layer()
    runtime = runtime_provided_dir(root / "var-runtime")
    source_only = root / "zip-source-only"
    for directory, _, files in os.walk(task_root):
        if Path(directory).name == "__pycache__":
            continue
        target = source_only / Path(directory).relative_to(task_root)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            os.link(Path(directory) / name, target / name)
    apps = []
    for name, tree in (("zip", task_root), ("zip, source only", source_only)):
        env = lambda_env(tree, function_name="portal-production", AWS_ENDPOINT_URL=moto.url)
        apps.append(App(name, [tree, layer / "python", runtime], env))
    print(
        f"zip: {package.zip_path.name}, {package.zipped_bytes / 2**20:.1f} MiB zipped, "
        f"{package.unzipped_bytes / 2**20:.1f} MiB unzipped"
    )
    return apps


def image_app(root: Path, moto: MotoServer) -> App:
    started = time.perf_counter()
    task = build_image_app(root / "image-var-task")
    found = subprocess.run(
        [sys.executable, "-S", "-I", "-c", FIND_MODELS],
        cwd=task,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(
        f"image /var/task ({image_stage()} stage) rebuilt in {time.perf_counter() - started:.0f} s;"
        f" dlib_models finds the baked-in models at {Path(found).relative_to(task)}"
    )
    env = lambda_env(task, function_name="portal-production-image", AWS_ENDPOINT_URL=moto.url) | {
        "PYTHONPATH": str(task)
    }
    return App("image", [task], env, handler="zappa.handler")


def bare_app(root: Path) -> App:
    project = root / "bare"
    project.mkdir()
    subprocess.run(
        [str(Path(sys.executable).with_name("django-admin")), "startproject", "bare", project],
        check=True,
    )
    (project / "bare" / "urls.py").write_text(HEALTHZ)
    compileall(project)
    settings = root / "bare_zappa_settings.json"
    stage = {
        "django_settings": "bare.settings",
        "project_name": "bare",
        "runtime": "python3.12",
        "aws_region": "us-east-1",
        "s3_bucket": "unused",
        "binary_support": True,
        "debug": False,
        "log_level": "INFO",
    }
    settings.write_text(json.dumps({"bench": stage}))
    python_settings = save_python_settings("bench", settings, root / "bare-settings")
    task_root = make_task_root(root / "bare-task", python_settings)
    compileall(task_root)
    env = lambda_env(task_root, function_name="bare-bench")
    # startproject's settings: DEBUG on and ALLOWED_HOSTS empty, so localhost-ish hosts only.
    return App(BARE, [task_root, project, SITE_PACKAGES], env, host="localhost")


def cold_start(app: App, log: Path, *, audit: bool = False) -> tuple[Start, int]:
    """One fresh environment to its first /healthz answer; with audit, the files it compiled."""
    started = time.perf_counter()
    container = LambdaContainer(app.paths, app.env, log, handler=app.handler, audit_compiles=audit)
    try:
        response = container.http(events.rest_event("GET", "/healthz", host=app.host))
        elapsed = time.perf_counter() - started
        cpu = container.cpu_seconds()
        assert response.status == 200, response
        compiled = len(container.compiled()) if audit else 0
        loaded = container.modules()
    finally:
        container.close()
    heavy = [name for name in loaded if name.split(".")[0] in ("dlib", "_dlib_pybind11", "numpy")]
    assert not heavy, f"{app.name} imported {heavy} to answer /healthz"
    return Start(elapsed, cpu), compiled


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        root = Path(tmp)
        moto = MotoServer(root / "moto.log").start()
        try:
            secrets_on_s3(moto, root)
            apps = [*zip_apps(root, moto), image_app(root, moto), bare_app(root)]
            compiled = {
                app.name: cold_start(app, root / "warmup.log", audit=True)[1] for app in apps
            }
            starts: dict[str, list[Start]] = {app.name: [] for app in apps}
            for run in range(RUNS):
                for app in apps[run % len(apps) :] + apps[: run % len(apps)]:
                    starts[app.name].append(cold_start(app, root / "run.log")[0])
        finally:
            moto.stop()
            shutil.rmtree(root / "image-var-task", ignore_errors=True)
    cpu = {name: statistics.median(s.cpu for s in runs) for name, runs in starts.items()}
    wall = {name: statistics.median(s.wall for s in runs) for name, runs in starts.items()}
    print(f"Cold start to the first /healthz answer through Zappa's handler, median of {RUNS}")
    print("(CPU: user + system seconds of the new environment; wall: from spawning Python)")
    for name in starts:
        ratio = "" if name == BARE else f"  ratio CPU {cpu[name] / cpu[BARE]:.2f}x"
        ratio += "" if name == BARE else f" wall {wall[name] / wall[BARE]:.2f}x"
        print(
            f"  {name:17s} CPU {cpu[name] * 1000:5.0f} ms  wall {wall[name] * 1000:5.0f} ms"
            f"  compiled from source: {compiled[name]:4d}{ratio}"
        )
    verdict = 0
    for name in ("zip", "image"):
        ratio = cpu[name] / cpu[BARE]
        ok = ratio <= TARGET_RATIO
        verdict |= not ok
        verdict_text = "ok" if ok else "OVER"
        print(f"{name}: {ratio:.2f}x bare Django's CPU (target <= {TARGET_RATIO}x): {verdict_text}")
    print(f"zip without bytecode (source only): {cpu['zip, source only'] / cpu[BARE]:.2f}x")
    print("No app imported dlib or numpy to answer /healthz.")
    return verdict


if __name__ == "__main__":
    sys.exit(main())
