"""checkov (offline) over every CloudFormation template in ops/aws: no failed check, every
skipped check carries a written reason, and no skip is left over for a check that passes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from ops.aws.stacks import load_template
from tests.aws.support import ALL_TEMPLATES, AWS_DIR, CHECKOV, DIR_TEMPLATES, require_tool
from tests.ops.support import run_checkov

pytestmark = pytest.mark.nodb

MIN_REASON_WORDS = 5  # a reason says why, in words: not an id or "skip"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tool = require_tool(
        CHECKOV, "python3.12 -m venv .venv-tools && pip install -r requirements-ops.txt"
    )
    root = tmp_path_factory.mktemp("checkov-aws")
    for path in DIR_TEMPLATES:  # the templates only: stacks.yaml is not one
        shutil.copy(path, root / path.name)
    (found,) = run_checkov(tool, root, "cloudformation")
    return found


def written_skips() -> dict[tuple[str, str, str], str]:
    """(template, resource, check) -> reason, from each resource's Metadata.checkov.skip."""
    skips = {}
    for path in DIR_TEMPLATES:
        for name, resource in load_template(path).get("Resources", {}).items():
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                skips[(path.name, name, skip["id"])] = skip.get("comment", "")
    return skips


def _key(check: dict[str, Any]) -> tuple[str, str, str]:
    return (Path(check["file_path"]).name, check["resource"].split(".")[-1], check["check_id"])


def test_scans_every_template(report: dict[str, Any]) -> None:
    assert report["check_type"] == "cloudformation"
    assert report["summary"]["parsing_errors"] == 0
    results = report["results"]
    checked = {
        Path(c["file_path"]).name
        for kind in ("passed_checks", "failed_checks", "skipped_checks")
        for c in results[kind]
    }
    # checkov has no check for SES identities or the OIDC provider: those have no results.
    expected = {path.name for path in ALL_TEMPLATES} - {"messaging.yaml", "github-oidc.yaml"}
    assert checked >= expected


def test_fails_no_check(report: dict[str, Any]) -> None:
    failed = [
        f"{c['check_id']} {c['resource']} {c['file_path']}: {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]
    assert failed == [], "\n".join(failed)


def test_skips_no_check_without_a_written_reason(report: dict[str, Any]) -> None:
    skips = written_skips()
    skipped = report["results"]["skipped_checks"]
    assert skipped
    for check in skipped:
        reason = skips.get(_key(check), "")
        assert len(reason.split()) >= MIN_REASON_WORDS, f"{_key(check)}: no written reason"


def test_no_skip_is_left_for_a_check_that_does_not_fail(report: dict[str, Any]) -> None:
    used = {_key(check) for check in report["results"]["skipped_checks"]}
    assert set(written_skips()) - used == set()


def test_scans_the_directory_the_stacks_come_from() -> None:
    assert {path.parent for path in ALL_TEMPLATES} == {AWS_DIR}
    assert set(ALL_TEMPLATES) <= set(DIR_TEMPLATES)
