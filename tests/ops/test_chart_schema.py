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


def test_accepts_the_defaults_and_every_module_values_file(helm: Any) -> None:
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema({})
        for module in MODULES:
            chart.validate_schema(module_values(module))


def test_rejects_a_string_replica_count(helm: Any) -> None:
    message = schema_error(helm, {"replicaCount": "3"})
    assert "/replicaCount" in message
    assert "got string, want integer" in message


def test_rejects_an_unknown_module_and_names_the_known_ones(helm: Any) -> None:
    message = schema_error(helm, {"module": "billing"})
    assert "/module" in message
    for module in MODULES:
        assert f"'{module}'" in message


def test_rejects_a_misspelt_top_level_key(helm: Any) -> None:
    message = schema_error(helm, {"replicaCont": 3})
    assert "replicaCont" in message
    assert "not allowed" in message


def test_rejects_running_as_root(helm: Any) -> None:
    message = schema_error(
        helm, {"podSecurityContext": {"runAsNonRoot": False, "runAsUser": 0, "runAsGroup": 0}}
    )
    assert "/podSecurityContext/runAsNonRoot" in message
    assert "/podSecurityContext/runAsUser" in message


def test_rejects_web_resources_without_limits(helm: Any) -> None:
    message = schema_error(helm, {"resources": {"requests": {"cpu": "100m", "memory": "1Gi"}}})
    assert "/resources" in message
    assert "limits" in message


def test_requires_the_secret_keys_when_the_chart_creates_the_secret(helm: Any) -> None:
    message = schema_error(helm, {"secret": {"source": "plain", "stringData": {"DEBUG": "1"}}})
    assert "SECRET_KEY" in message
    assert "DATABASE_URL" in message


@pytest.mark.parametrize(
    "prune",
    [
        {"enabled": False},
        {"schedule": "@daily"},
        {"schedule": "0 */6 * * 1-5", "timeZone": "Europe/Paris"},
        {"successfulJobsHistoryLimit": 0, "failedJobsHistoryLimit": 1, "backoffLimit": 0},
        {
            "activeDeadlineSeconds": 900,
            "resources": {
                "requests": {"cpu": "20m", "memory": "128Mi"},
                "limits": {"cpu": 1, "memory": "1Gi"},
            },
        },
    ],
)
def test_accepts_sensible_prune_values(helm: Any, prune: Doc) -> None:
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema({"module": "netprobe", "prune": prune})


@pytest.mark.parametrize(
    ("prune", "where", "says"),
    [
        ({"enabled": "auto"}, "/prune/enabled", "want boolean"),
        ({"schedule": "daily"}, "/prune/schedule", "does not match pattern"),
        ({"schedule": "17 3 * *"}, "/prune/schedule", "does not match pattern"),
        ({"schedule": "TZ=UTC 17 3 * * *"}, "/prune/schedule", "does not match pattern"),
        ({"activeDeadlineSeconds": 0}, "/prune/activeDeadlineSeconds", "minimum"),
        ({"failedJobsHistoryLimit": -1}, "/prune/failedJobsHistoryLimit", "minimum"),
        # The defaults' limits merge into partial resources: only null removes them.
        ({"resources": {"limits": None}}, "/prune/resources", "limits"),
        ({"resources": {"limits": {"memory": None}}}, "/prune/resources/limits", "memory"),
        ({"schedul": "17 3 * * *"}, "/prune", "schedul"),
    ],
)
def test_rejects_bad_prune_values(helm: Any, prune: Doc, where: str, says: str) -> None:
    message = schema_error(helm, {"prune": prune})
    assert where in message
    assert says in message
