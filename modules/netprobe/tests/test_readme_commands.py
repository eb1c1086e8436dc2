"""The README's `python manage.py ...` commands work as typed in a fresh clone after `make run`:
with whatever `python` is first on PATH (re-run under .venv), no variables set (the settings come
from the `.env` that `make run` writes), and no traceback."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from portal import dotenv

from .webprocess import PYTHON, REPO

README = (REPO / "README.md").read_text()
# What a fresh clone has that the commands need; .venv is shared (a symlink), not copied.
CLONED = ("manage.py", "portal", "modules", "templates", "static", "requirements.txt")


def typed_env() -> dict[str, str]:
    """A shell with nothing exported but PATH and HOME: `python` is the first one on PATH (here
    possibly pyenv's, without Django), never the venv's."""
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if ".venv" not in p]
    return {"PATH": os.pathsep.join(path or ["/usr/bin", "/bin"]), "HOME": str(Path.home())}


def python_on_path() -> str:
    for name in ("python", "python3"):
        found = shutil.which(name, path=typed_env()["PATH"])
        if found:
            return name
    pytest.skip("no python on PATH")


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project after `make run` (its .env, migrate, portal_demo), not serving."""
    root = tmp_path_factory.mktemp("clone")
    for name in CLONED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    (root / ".venv").symlink_to(REPO / ".venv")
    env = typed_env()
    make_run = [
        ["-m", "portal.dotenv", "--public-base-url", "http://127.0.0.1:8000"],
        ["manage.py", "migrate", "--noinput", "-v", "0"],
        ["manage.py", "portal_demo"],
    ]
    for args in make_run:
        done = subprocess.run(
            [str(PYTHON), *args],
            cwd=root,
            env={**env, "DEBUG": "1"},
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr
    return root


def typed(clone: Path, command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `command` as a person would type it in the clone (`shlex` splits it as a shell)."""
    args = shlex.split(command)
    assert args[:2] == ["python", "manage.py"]
    return subprocess.run(
        [python_on_path(), *args[1:]],
        cwd=clone,
        env=typed_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# (as the README shows it, as run: its placeholder filled in, exit codes, what it prints)
ONE_SHOT = [
    ("python manage.py netprobe_run_monitors", None, {0}, "NetProbe monitors: 0 due"),
    ("python manage.py sos_worker", "python manage.py sos_worker --once", {0}, "sos_worker:"),
    ("python manage.py finops", None, {0}, "EKS becomes cheaper"),
    (
        "python manage.py finops --requests-per-month 40e6 --avg-ms 180 --memory-mb 2048 --json",
        None,
        {0},
        '"lambda"',
    ),
    (
        "python manage.py drf_create_token <username>",
        "python manage.py drf_create_token operator",  # portal_demo's operator
        {0},
        "Generated token",
    ),
    # No network is needed to work as typed: a failed probe exits 1 with its result.
    ("python manage.py netprobe http https://example.com --json", None, {0, 1}, '"kind": "http"'),
    # No such photos in a fresh clone: exit 2 with the error, not a traceback.
    ("python manage.py faces_compare a.jpg b.jpg --json", None, {2}, '"error"'),
]


@pytest.mark.slow
def test_the_readme_commands_work_as_typed(clone):
    failures = []
    for shown, run, exit_codes, says in ONE_SHOT:
        assert shown in README, f"the README no longer shows {shown!r}"
        done = typed(clone, run or shown)
        output = done.stdout + done.stderr
        if "Traceback" in output or done.returncode not in exit_codes or says not in output:
            failures.append(f"{run or shown}: exit {done.returncode}\n{output[-1500:]}")

    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_the_readme_sos_raise_command_works_as_typed_once_its_group_exists(clone):
    command = (
        'python manage.py sos_raise --group oncall --message "Server room flooding" '
        "--severity critical"
    )
    assert command in README

    missing = typed(clone, command)
    made = typed(clone, f"python manage.py shell -c {shlex.quote(CREATE_ONCALL)}")
    raised = typed(clone, command)

    assert missing.returncode == 1
    assert "Unknown groups: oncall" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert made.returncode == 0, made.stderr
    assert raised.returncode == 0, raised.stderr
    assert "Traceback" not in raised.stderr


CREATE_ONCALL = """
from modules.sos.models import Contact, ContactMethod, Group
group = Group.objects.create(name="oncall")
contact = Contact.objects.create(name="Ops")
ContactMethod.objects.create(contact=contact, kind="email", address="ops@example.com")
group.members.add(contact)
"""


@pytest.mark.slow
def test_the_readme_monitor_loop_runs_until_ctrl_c(clone):
    command = "python manage.py netprobe_run_monitors --loop"
    assert command in README
    process = subprocess.Popen(
        [python_on_path(), *command.split()[1:]],
        cwd=clone,
        env=typed_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()  # type: ignore[union-attr]
        process.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()

    assert "running every 30 s" in first, err
    assert process.returncode == 0, err
    assert "stopped after" in out
    assert "Traceback" not in err


def test_the_env_file_keeps_its_secret_key_and_yields_to_the_environment(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    first = dotenv.write(path, public_base_url="http://127.0.0.1:8000", egress=None)
    path.write_text(path.read_text() + "# a note\nexport EXTRA='a b # c'\n")
    second = dotenv.write(path, public_base_url="http://127.0.0.1:9000", egress="127.0.0.0/8")
    # load() sets variables: on a copy, or they would stay for the rest of this worker's tests.
    monkeypatch.setattr(os, "environ", os.environ.copy())
    monkeypatch.setenv("DEBUG", "0")
    monkeypatch.delenv("EXTRA", raising=False)
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)

    dotenv.load(path)

    assert second["SECRET_KEY"] == first["SECRET_KEY"]
    assert len(first["SECRET_KEY"]) >= 50
    assert os.environ["DEBUG"] == "0"  # the real environment wins
    assert os.environ["EXTRA"] == "a b # c"
    assert os.environ["PUBLIC_BASE_URL"] == "http://127.0.0.1:9000"
    assert dotenv.read(path)["EGRESS_ALLOWED_NETWORKS"] == "127.0.0.0/8"
    assert path.stat().st_mode & 0o077 == 0  # it holds a secret key
