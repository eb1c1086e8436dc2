"""Lambda cold start: Portal through Zappa's handler vs. a bare Django project, same run.

A cold start here is what a new Lambda execution environment does before its first answer:
start Python, import Zappa's handler, build the LambdaHandler (settings module, Django setup,
WSGI app) and answer GET /healthz. Both apps run through the same Zappa handler, in a fresh
interpreter with no site-packages (`python -S -I`, sys.path set like Lambda's bootstrap), with
a zappa_settings.py from `zappa save-python-settings-file`. The bare project is what
`django-admin startproject` makes, plus a /healthz view. Runs alternate between the two apps;
medians are compared, on CPU time (the target) and on wall time.

Two bytecode situations are measured:
- "bytecode": the site-packages' __pycache__ is there (a warm disk, or a package that ships
  compiled bytecode);
- "source only": every module compiled from source, as on Lambda with a package whose
  __pycache__ was excluded (the task root is read-only, so nothing is ever cached).

Run from the repository root: .venv/bin/python bench/cold_start.py  (COLD_START_RUNS=9)
"""

from __future__ import annotations

import json
import os
import secrets
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
from tests.deploy.container import (  # noqa: E402
    LambdaContainer,
    lambda_env,
    make_task_root,
)
from tests.deploy.lambda_build import (  # noqa: E402
    SITE_PACKAGES,
    save_python_settings,
    stage_settings,
)

RUNS = int(os.environ.get("COLD_START_RUNS", "7"))
TARGET_RATIO = 1.5
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


def bare_project(root: Path) -> App:
    project = root / "bare"
    project.mkdir()
    subprocess.run(
        [str(Path(sys.executable).with_name("django-admin")), "startproject", "bare", project],
        check=True,
    )
    (project / "bare" / "urls.py").write_text(HEALTHZ)
    settings = root / "bare_zappa_settings.json"
    settings.write_text(
        json.dumps(
            {
                "bench": {
                    "django_settings": "bare.settings",
                    "project_name": "bare",
                    "runtime": "python3.12",
                    "aws_region": "us-east-1",
                    "s3_bucket": "unused",
                    "binary_support": True,
                    "debug": False,
                    "log_level": "INFO",
                }
            }
        )
    )
    python_settings = save_python_settings("bench", settings, root / "bare-settings")
    task_root = make_task_root(root / "bare-task", python_settings)
    env = lambda_env(task_root, function_name="bare-bench")
    # startproject's settings have DEBUG on and ALLOWED_HOSTS empty: localhost-ish hosts only.
    return App("bare Django", [task_root, project, SITE_PACKAGES], env)


def portal(root: Path) -> App:
    config = stage_settings("dev")
    config.pop("extends", None)
    config.pop("remote_env", None)  # no S3 here: the secrets come from the environment
    settings = root / "portal_zappa_settings.json"
    settings.write_text(json.dumps({"dev": config}))
    python_settings = save_python_settings("dev", settings, root / "portal-settings")
    task_root = make_task_root(root / "portal-task", python_settings)
    env = lambda_env(
        task_root,
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=f"sqlite:///{root / 'portal.sqlite3'}",
    )
    return App("Portal", [task_root, ROOT, SITE_PACKAGES], env)


def cold_start(app: App, log: Path, pycache_prefix: Path | None) -> tuple[float, float]:
    """Wall seconds from spawning the interpreter to the first /healthz answer, and the CPU
    seconds the environment used for it (steadier than wall time on a busy machine)."""
    started = time.perf_counter()
    # With an empty pycache_prefix directory every module is compiled from source.
    container = LambdaContainer(app.paths, app.env, log, pycache_prefix=pycache_prefix)
    try:
        host = "localhost" if app.name.startswith("bare") else events.REST_HOST
        response = container.http(events.rest_event("GET", "/healthz", host=host))
        elapsed = time.perf_counter() - started
        cpu = container.cpu_seconds()
        assert response.status == 200, response
        loaded = container.modules()
    finally:
        container.close()
    heavy = [name for name in loaded if name.split(".")[0] in ("dlib", "_dlib_pybind11", "numpy")]
    assert not heavy, f"{app.name} imported {heavy} to answer /healthz"
    return elapsed, cpu


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        root = Path(tmp)
        apps = [portal(root), bare_project(root)]
        results: dict[str, dict[str, list[tuple[float, float]]]] = {}
        for mode in ("bytecode", "source only"):
            for app in apps:  # one untimed start each: the disk cache, not the code, warms up
                cold_start(app, root / "warmup.log", None)
            results[mode] = {app.name: [] for app in apps}
            for run in range(RUNS):
                for app in apps if run % 2 == 0 else reversed(apps):
                    prefix = None
                    if mode == "source only":
                        prefix = root / f"pycache-{mode}-{app.name}-{run}".replace(" ", "-")
                        prefix.mkdir()
                    results[mode][app.name].append(cold_start(app, root / "run.log", prefix))
    verdict = 0
    print(f"Cold start to the first /healthz answer through Zappa's handler, median of {RUNS}")
    print("(CPU: user + system seconds of the new environment; wall: from spawning Python):")
    for mode, timings in results.items():
        portal_wall, portal_cpu = (
            statistics.median(t) for t in zip(*timings["Portal"], strict=True)
        )
        bare_wall, bare_cpu = (
            statistics.median(t) for t in zip(*timings["bare Django"], strict=True)
        )
        ratio = portal_cpu / bare_cpu
        target = f"target <= {TARGET_RATIO}x" if mode == "bytecode" else "for information"
        print(
            f"  {mode:11s}  CPU  Portal {portal_cpu * 1000:5.0f} ms  bare Django "
            f"{bare_cpu * 1000:5.0f} ms  ratio {ratio:.2f}x ({target})"
        )
        print(
            f"  {'':11s}  wall Portal {portal_wall * 1000:5.0f} ms  bare Django "
            f"{bare_wall * 1000:5.0f} ms  ratio {portal_wall / bare_wall:.2f}x"
        )
        if mode == "bytecode" and ratio > TARGET_RATIO:
            verdict = 1
    print("Neither app imported dlib or numpy to answer /healthz.")
    return verdict


if __name__ == "__main__":
    sys.exit(main())
