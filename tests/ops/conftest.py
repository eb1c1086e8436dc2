"""Fixtures for the ops tests: the raw manifests and the chart rendered once per module
(session-scoped: rendering is fast and every test reads the same documents)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.ops.support import (
    CHART,
    MANIFESTS,
    MODULES,
    RELEASE_NAMESPACE,
    Doc,
    Rendered,
    load_docs,
    module_values,
    release_name,
)

# Files of ops/kubernetes_orchestration that kubectl does not apply.
NOT_KUBERNETES_OBJECTS = ("kustomization.yaml", "cluster.yaml")


@pytest.fixture(scope="session")
def raw_manifests() -> dict[str, list[Doc]]:
    """ops/kubernetes_orchestration/*.yaml -> documents (kustomization.yaml included)."""
    return {p.name: load_docs(p.read_text()) for p in sorted(MANIFESTS.glob("*.yaml"))}


@pytest.fixture(scope="session")
def raw_docs(raw_manifests: dict[str, list[Doc]]) -> list[Doc]:
    """The Kubernetes objects of the pilot (not kustomization.yaml, nor eksctl's cluster.yaml)."""
    return [
        doc
        for name, docs in raw_manifests.items()
        if name not in NOT_KUBERNETES_OBJECTS
        for doc in docs
    ]


@pytest.fixture(scope="session")
def helm() -> Any:
    return pytest.importorskip(
        "helm_python", reason="helm-python-sdk is not installed (requirements-dev.txt has it)"
    )


@pytest.fixture(scope="session")
def render(helm: Any) -> Iterator[Any]:
    """render(values, release) -> {template: text}, offline through helm-python-sdk."""
    with helm.Chart.load(str(CHART)) as chart:

        def _render(values: Doc, release: str) -> dict[str, str]:
            return chart.render(values, name=release, namespace=RELEASE_NAMESPACE, is_install=True)

        yield _render


@pytest.fixture(scope="session")
def rendered(render: Any) -> dict[str, Rendered]:
    """Each module's example values file rendered once, as ops/README.md installs it."""
    result: dict[str, Rendered] = {}
    for module in MODULES:
        templates = render(module_values(module), release_name(module))
        docs = [
            doc
            for path, text in sorted(templates.items())
            if path.endswith(".yaml")
            for doc in load_docs(text)
        ]
        result[module] = Rendered(module, release_name(module), templates, docs)
    return result
