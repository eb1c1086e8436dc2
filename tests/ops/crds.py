"""Custom resources (KEDA, External Secrets, ...) validated offline against their CRD schemas.

kubernetes-validate knows only the built-in kinds. For the others, the @kubernetes-models npm
packages carry validators generated from each project's CRD schema; `make crd-models` installs
them into var/crd-models (tests/ops/crd_models/package.json pins them) and
tests/ops/crd_models/validate.mjs runs them under Node.js, strictly (unknown fields are errors).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.ops.support import REPO, Doc

MODELS = REPO / "var" / "crd-models" / "node_modules"
VALIDATOR = REPO / "tests" / "ops" / "crd_models" / "validate.mjs"
# API groups whose CRD validators are installed, with their npm package (validate.mjs knows
# the same list). Add a package to crd_models/package.json and both lists to check another.
CRD_PACKAGES = {
    "keda.sh": "@kubernetes-models/keda",
    "external-secrets.io": "@kubernetes-models/external-secrets",
    "gateway.networking.k8s.io": "@kubernetes-models/gateway-api",
    "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
}


def api_group(doc: Doc) -> str:
    return doc["apiVersion"].rpartition("/")[0]


def is_custom_resource(doc: Doc) -> bool:
    """A kind kubernetes-validate has no schema for: its CRD's validator checks it."""
    return api_group(doc) in CRD_PACKAGES


def _missing(what: str) -> None:
    message = f"{what}: run `make crd-models` (npm installs tests/ops/crd_models/package.json)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def crd_errors(docs: list[Doc]) -> list[list[str]]:
    """One list of errors per document (empty: valid); one Node.js process for all of them."""
    node = shutil.which("node")
    if node is None:
        _missing("Node.js is not installed (apt-get install nodejs npm)")
    for group in {api_group(d) for d in docs}:
        if group not in CRD_PACKAGES:
            raise ValueError(f"no CRD validator for API group {group!r}")
        if not (MODELS / CRD_PACKAGES[group] / "package.json").is_file():
            _missing(f"{CRD_PACKAGES[group]} is not installed in {MODELS}")
    done = subprocess.run(
        [str(node), str(VALIDATOR)],
        input=json.dumps({"models": str(MODELS), "docs": docs}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def validate_crds(docs: list[Doc]) -> None:
    """Fails the test with every error of every document, named by kind and name."""
    problems = [
        f"{doc['kind']}/{doc['metadata']['name']}: {error}"
        for doc, errors in zip(docs, crd_errors(docs), strict=True)
        for error in errors
    ]
    assert problems == [], "\n".join(problems)
