"""Paths, tools and helpers shared by the ops tests (fixtures are in conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
OPS = REPO / "ops"
DOCKER_DIR = OPS / "docker_containerization"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
ENTRYPOINT = DOCKER_DIR / "entrypoint.sh"
MANIFESTS = OPS / "kubernetes_orchestration"
CHART = OPS / "helm_charts" / "portal"
MODULES = ("netprobe", "sos", "faces", "all")
# EKS 1.33: the version the manifests and the chart are validated against.
KUBERNETES_VERSION = "1.33.0"
# The oldest version the chart supports (Chart.yaml kubeVersion) and the current one.
KUBERNETES_VERSIONS = ("1.30.0", "1.33.0")
RELEASE_NAMESPACE = "portal"

Doc = dict[str, Any]


def release_name(module: str) -> str:
    """The release names ops/README.md installs with; portal-netprobe matches the raw pilot."""
    return "portal" if module == "all" else f"portal-{module}"


def find_tool(name: str, *, env: str, extra: tuple[Path, ...] = ()) -> str | None:
    """A tool from $ENV, the tools venv, the venv running the tests, or PATH."""
    if os.environ.get(env):
        return os.environ[env]
    for candidate in (*extra, Path(sys.executable).parent / name):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def load_docs(text: str) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    found = [d for d in by_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_spec(doc: Doc) -> Doc:
    """The pod spec of a workload or a Pod."""
    kind = doc["kind"]
    if kind == "Pod":
        return doc["spec"]
    if kind == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")


def workloads(docs: list[Doc]) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] in WORKLOAD_KINDS]


def all_containers(doc: Doc) -> list[Doc]:
    spec = pod_spec(doc)
    return [*spec.get("initContainers", []), *spec["containers"]]


@dataclass(frozen=True)
class Rendered:
    module: str
    release: str
    templates: dict[str, str]  # template path -> rendered text (empty when switched off)
    docs: list[Doc]


def module_values(module: str) -> Doc:
    return yaml.safe_load((CHART / f"values-{module}.yaml").read_text())


def validate_strict(doc: Doc, version: str = KUBERNETES_VERSION) -> str:
    """kubernetes-validate --strict for `version`; fails the test with the path."""
    kv = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate is not installed (requirements-dev.txt)"
    )
    try:
        return kv.validate(doc, version, strict=True)
    except kv.ValidationError as e:
        path = ".".join(str(p) for p in e.path)
        pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {path}: {e.message}")
    except kv.SchemaNotFoundError as e:
        pytest.fail(e.message)


def run_checkov(tool: str, directory: Path, *frameworks: str) -> list[dict[str, Any]]:
    """checkov over a directory, offline (no download, no platform mapping): one report per
    framework that found something to scan."""
    command = [tool, "--skip-download", "--framework", *frameworks, "--output", "json"]
    result = subprocess.run(
        [*command, "--directory", str(directory)],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "HOME": str(directory), "BC_SKIP_MAPPING": "TRUE"},
    )
    assert result.stdout.strip(), result.stderr
    data = json.loads(result.stdout)
    return data if isinstance(data, list) else [data]
