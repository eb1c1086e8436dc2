"""The container image's /var/task, reproduced from the tree without Docker.

ops/docker_containerization/Dockerfile's build stage, step by step:

1. `pip install --no-compile --target /var/task -r requirements.txt`: here the same
   distributions (requirements.txt and its dependencies, boto3 included) copied file by file from
   this interpreter's site-packages, as tests/deploy/lambda_build.py does for the zip;
2. the two dlib models Portal does not use deleted;
3. `COPY . /var/task/` through .dockerignore (the rules tests/ops/test_dockerfile.py reads);
4. `manage.py collectstatic`, `zappa save-python-settings-file $ZAPPA_STAGE` and
   `compileall --invalidation-mode unchecked-hash`, run by this CPython 3.12 with only the
   directory on sys.path (`-S`, PYTHONPATH=/var/task as in the image).

What differs from a real build: the interpreter is this machine's 3.12 instead of the base
image's, and the files under the base image (the runtime interface client, its boto3) are not
there; the entrypoint hands `zappa.handler.lambda_handler` to that client, which imports it from
/var/task exactly as tests/deploy/lambda_driver.py does with `--handler zappa.handler`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.deploy.lambda_build import REPO, offline_env, runtime_distributions
from tests.ops.test_dockerfile import dockerignore_rules, in_context

DOCKERFILE = REPO / "ops" / "docker_containerization" / "Dockerfile"
UNCHECKED = ("--invalidation-mode", "unchecked-hash")
UNUSED_MODELS = ("shape_predictor_68_face_landmarks.dat", "mmod_human_face_detector.dat")


def image_stage() -> str:
    match = re.search(r"^ARG ZAPPA_STAGE=(\S+)$", DOCKERFILE.read_text(), re.M)
    assert match is not None, "the Dockerfile names its Zappa stage"
    return match.group(1)


def build_image_app(dest: Path) -> Path:
    """/var/task as the image has it, in `dest` (which must not exist)."""
    dest.mkdir(parents=True)
    for distribution in runtime_distributions().values():
        for file in distribution.files or []:
            if "__pycache__" in file.parts or file.parts[0] == "..":
                continue  # --no-compile; console scripts go to bin/, outside /var/task
            source = Path(distribution.locate_file(file))
            if source.is_file():
                (dest / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, dest / file)
    for name in UNUSED_MODELS:
        (dest / "face_recognition_models" / "models" / name).unlink(missing_ok=True)
    rules = dockerignore_rules()
    for line in (REPO / ".dockerignore").read_text().splitlines():
        if not line.startswith("!"):
            continue  # everything is ignored but what a "!" rule lets back in
        let_in = REPO / line[1:].strip().rstrip("/")
        for root, dirs, files in os.walk(let_in) if let_in.is_dir() else [("", [], [let_in])]:
            dirs[:] = [d for d in dirs if in_context(_relative(Path(root) / d), rules)]
            for file in (Path(root) / name for name in files):
                if in_context(_relative(file), rules):
                    (dest / _relative(file)).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(file, dest / _relative(file))
    env = offline_env(
        PYTHONPATH=str(dest), SECRET_KEY="collectstatic-at-build-time-only", DEBUG="false"
    )
    python = [sys.executable, "-S"]
    steps = [
        [*python, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        [
            *python,
            "-c",
            "from zappa.cli import handle; handle()",
            "save-python-settings-file",
            image_stage(),
        ],
        [*python[:1], "-m", "compileall", "-q", "-j", "0", *UNCHECKED, str(dest)],
    ]
    for step in steps:
        result = subprocess.run(
            step, cwd=dest, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(step)} failed:\n{result.stdout}\n{result.stderr}")
    return dest


def _relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()
