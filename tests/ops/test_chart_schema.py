"""values.schema.json refuses bad values before anything renders, and says what is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ops.support import CHART, MODULES, Doc, module_values

# Nothing here touches the database: left out of the PostgreSQL pass.
pytestmark = pytest.mark.nodb


def schema_error(helm: Any, values: Doc) -> str:
    with helm.Chart.load(str(CHART)) as chart:
        with pytest.raises(helm.HelmValuesError) as excinfo:
            chart.validate_schema(values)
        # Rendering (what `helm install` does) refuses the same values.
        with pytest.raises(helm.HelmValuesError):
            chart.render(values, name="portal-x", namespace="portal")
    return str(excinfo.value)


def test_it_accepts_the_defaults_and_every_module_values_file(helm: Any) -> None:
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema({})
        for module in MODULES:
            chart.validate_schema(module_values(module))


def test_it_rejects_a_string_replica_count(helm: Any) -> None:
    message = schema_error(helm, {"replicaCount": "3"})
    assert "/replicaCount" in message
    assert "got string, want integer" in message


def test_it_rejects_an_unknown_module_and_names_the_known_ones(helm: Any) -> None:
    message = schema_error(helm, {"module": "billing"})
    assert "/module" in message
    for module in MODULES:
        assert f"'{module}'" in message


def test_it_rejects_a_misspelt_top_level_key(helm: Any) -> None:
    message = schema_error(helm, {"replicaCont": 3})
    assert "replicaCont" in message
    assert "not allowed" in message


def test_it_rejects_running_as_root(helm: Any) -> None:
    message = schema_error(
        helm, {"podSecurityContext": {"runAsNonRoot": False, "runAsUser": 0, "runAsGroup": 0}}
    )
    assert "/podSecurityContext/runAsNonRoot" in message
    assert "/podSecurityContext/runAsUser" in message


def test_it_rejects_web_resources_without_limits(helm: Any) -> None:
    message = schema_error(helm, {"resources": {"requests": {"cpu": "100m", "memory": "1Gi"}}})
    assert "/resources" in message
    assert "limits" in message


def test_it_requires_the_secret_keys_when_the_chart_creates_the_secret(helm: Any) -> None:
    message = schema_error(helm, {"secret": {"create": True, "stringData": {"DEBUG": "1"}}})
    assert "SECRET_KEY" in message
    assert "DATABASE_URL" in message
