"""Schemathesis against the live OpenAPI schema, as an operator and as a viewer: no server
error, every answer matches its documented schema, and every status an operation answers is
documented. Bounded: the schema's examples, its coverage cases and a few dozen fuzzed cases per
operation, with a fixed seed so a run is repeatable.

The portal runs as users run it: gunicorn, DEBUG off, on the embedded SQLite default.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import gunicorn, manage, portal_env, run_python

pytestmark = [pytest.mark.slow, pytest.mark.nodb]

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
FUZZED_PER_OPERATION = 25
TOKENS = """
from portal.test import make_user
from rest_framework.authtoken.models import Token
for name, role in (("olivia", "operator"), ("victor", "viewer")):
    print(Token.objects.create(user=make_user(name, role=role)).key)
"""


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    root = tmp_path_factory.mktemp("fuzz")
    env = portal_env(
        f"sqlite:///{root / 'db.sqlite3'}",
        API_THROTTLE_USER="1000000/min",  # the fuzzer is one user sending thousands of requests
        NETPROBE_MAX_TIMEOUT_S="1",  # fuzzed probe targets that never answer end quickly
        NETPROBE_MAX_DURATION_S="2",
    )
    manage(env, "migrate", "--noinput", "-v", "0")
    operator, viewer = run_python(env, TOKENS).split()
    with gunicorn(env, root / "gunicorn.log") as url:
        yield url, {"operator": operator, "viewer": viewer}


# A viewer's writes are refused (403) before their input is read, which tests/test_roles.py
# checks for every operation; the viewer's fuzzing covers what a viewer can do: read.
SCOPE = {"operator": [], "viewer": ["--include-method", "GET"]}


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_the_api_keeps_its_schema_under_fuzzing(portal, role, tmp_path):
    url, tokens = portal
    report = tmp_path / "report.ndjson"
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--no-color",
            "run",
            f"{url}/api/schema/?format=json",
            *SCOPE[role],
            "--header",
            f"Authorization: Token {tokens[role]}",
            "--checks",
            CHECKS,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            str(FUZZED_PER_OPERATION),
            "--seed",
            "20261207",
            "--workers",
            "2",
            "--request-timeout",
            "30",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(report),
        ],
        cwd=tmp_path,  # its cache folder goes there, not into the repository
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    cases, failures = _counts(report)
    print(f"fuzz as {role}: {cases} cases, {failures} failing operations")
    assert run.returncode == 0, _failures(run.stdout)
    assert cases > 0
    assert failures == 0


def _failures(output: str) -> str:
    """The failures section of schemathesis' report (its warnings come after)."""
    start = output.find("FAILURES")
    end = output.find("WARNINGS", start)
    return output[start:end][:8000] if start != -1 else output[-8000:]


def _counts(report: Path) -> tuple[int, int]:
    """(test cases run, scenarios that failed or errored) from the NDJSON report."""
    cases = failed = 0
    for line in report.read_text().splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        if finished:
            cases += len(finished.get("recorder", {}).get("cases", {}))
            failed += str(finished.get("status")).lower() in ("failure", "error")
    return cases, failed
