"""checkov (offline) over the raw manifests, every module's rendered chart and the Dockerfile:
no failed check, and every skipped check carries a written reason."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.support import (
    DOCKERFILE,
    MANIFESTS,
    MODULES,
    REPO,
    Rendered,
    find_tool,
    module_values,
    run_checkov,
)

# Nothing here touches the database: left out of the PostgreSQL pass.
pytestmark = pytest.mark.nodb

CHECKOV_VENV = REPO / ".venv-tools" / "bin" / "checkov"
# A skip reason says why, in words: not just an id or "skip".
MIN_REASON_WORDS = 5


def checkov() -> str:
    tool = find_tool("checkov", env="CHECKOV", extra=(CHECKOV_VENV,))
    if tool is None:
        message = (
            "checkov is not installed: python3.12 -m venv .venv-tools && "
            ".venv-tools/bin/pip install -r requirements-ops.txt (make test does)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return tool


@pytest.fixture(scope="module")
def scan_dir(
    tmp_path_factory: pytest.TempPathFactory, rendered: dict[str, Rendered], render: Any
) -> Path:
    """What checkov scans: raw/ (the pilot), chart-<module>/ (rendered), chart-vantage/
    (values-vantage.yaml: role vantage), Dockerfile."""
    root = tmp_path_factory.mktemp("checkov")
    raw = root / "raw"
    raw.mkdir()
    for path in MANIFESTS.glob("*.yaml"):
        if path.name != "kustomization.yaml":
            shutil.copy(path, raw / path.name)
    releases = {module: rendered[module].templates for module in MODULES}
    releases["vantage"] = render(module_values("vantage"), "portal-vantage")
    for module, templates in releases.items():
        out = root / f"chart-{module}"
        out.mkdir()
        for template, text in templates.items():
            if template.endswith(".yaml") and text.strip():
                (out / template.replace("/", "__")).write_text(text)
    shutil.copy(DOCKERFILE, root / "Dockerfile")
    return root


@pytest.fixture(scope="module")
def report(scan_dir: Path) -> list[dict[str, Any]]:
    return run_checkov(checkov(), scan_dir, "kubernetes", "dockerfile")


def test_scans_the_manifests_the_chart_and_the_dockerfile(report: list[dict[str, Any]]) -> None:
    by_type = {r["check_type"]: r for r in report}
    assert set(by_type) == {"kubernetes", "dockerfile"}
    for r in report:
        assert r["summary"]["parsing_errors"] == 0, r["check_type"]
        assert r["summary"]["passed"] > 0
    passed = by_type["kubernetes"]["results"]["passed_checks"]
    files = {c["file_path"].split("/")[1] for c in passed}
    assert {"raw", "chart-vantage", *(f"chart-{m}" for m in MODULES)} <= files


def test_fails_no_check(report: list[dict[str, Any]]) -> None:
    failed = [
        f"{c['check_id']} {c['resource']} {c['file_path']}: {c['check_name']}"
        for r in report
        for c in r["results"]["failed_checks"]
    ]
    assert failed == [], "\n".join(failed)


def _k8s_skip_reasons(scan_dir: Path, file_path: str, resource: str) -> dict[str, str]:
    """checkov.io/skipN annotations of the resource ("Kind.namespace.name") in that file."""
    kind, _, name = resource.split(".", 2)
    reasons: dict[str, str] = {}
    for doc in yaml.safe_load_all((scan_dir / file_path.lstrip("/")).read_text()):
        if doc and doc["kind"] == kind and doc["metadata"]["name"] == name:
            for key, value in (doc["metadata"].get("annotations") or {}).items():
                if key.startswith("checkov.io/skip"):
                    check, _, reason = value.partition("=")
                    reasons[check] = reason
    return reasons


def _dockerfile_skip_reasons(path: Path) -> dict[str, str]:
    found = re.findall(r"#\s*checkov:skip=(CKV\w+):(.*)", path.read_text())
    return {check: reason for check, reason in found}


def test_skips_no_check_without_a_written_reason(
    report: list[dict[str, Any]], scan_dir: Path
) -> None:
    skipped = [(r["check_type"], c) for r in report for c in r["results"]["skipped_checks"]]
    assert skipped, "the skips in the manifests and the Dockerfile are seen by checkov"
    for check_type, check in skipped:
        if check_type == "dockerfile":
            reasons = _dockerfile_skip_reasons(scan_dir / check["file_path"].lstrip("/"))
        else:
            reasons = _k8s_skip_reasons(scan_dir, check["file_path"], check["resource"])
        reason = reasons.get(check["check_id"], "")
        where = f"{check['check_id']} {check['resource']} {check['file_path']}"
        assert len(reason.split()) >= MIN_REASON_WORDS, f"{where}: no written reason"
