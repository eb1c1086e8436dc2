"""The chart with `role: vantage` (values-vantage.yaml): a NetProbe vantage release with no
database (no migrations Job, no CronJobs, no DB cache), routing only /vantage/v1/ and /healthz,
its secrets from the release's Secret."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.ops.support import (
    CHART,
    KUBERNETES_VERSION,
    KUBERNETES_VERSIONS,
    Doc,
    by_kind,
    load_docs,
    one,
    validate_strict,
)

pytestmark = pytest.mark.nodb

RELEASE = "portal-vantage"
VANTAGE_PATHS = [
    {"path": "/vantage/v1/", "pathType": "Prefix"},
    {"path": "/healthz", "pathType": "Exact"},
]


def vantage_values(**overrides: Any) -> Doc:
    return {**yaml.safe_load((CHART / "values-vantage.yaml").read_text()), **overrides}


def rendered(render: Any, values: Doc) -> tuple[dict[str, str], list[Doc]]:
    templates = render(values, RELEASE)
    docs = [
        doc
        for path, text in sorted(templates.items())
        if path.endswith(".yaml")
        for doc in load_docs(text)
    ]
    return templates, docs


def test_passes_helm_lint_strict(helm: Any) -> None:
    report = helm.lint(
        str(CHART), vantage_values(), strict=True, kube_version=f"v{KUBERNETES_VERSION}"
    )
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_renders_valid_documents_with_no_database_work(render: Any) -> None:
    _, docs = rendered(render, vantage_values())
    for doc in docs:
        if doc["apiVersion"].startswith(("external-secrets.io", "monitoring.coreos.com")):
            continue
        for version in KUBERNETES_VERSIONS:
            assert validate_strict(doc, version) == version.removesuffix(".0")
    # No migrations hook, no monitors or prune CronJob, no delivery worker: only the web pods.
    assert by_kind(docs, "Job") == []
    assert by_kind(docs, "CronJob") == []
    assert [d["metadata"]["name"] for d in by_kind(docs, "Deployment")] == [RELEASE]


def test_sets_the_vantage_role_and_no_database_setting(render: Any) -> None:
    _, docs = rendered(render, vantage_values())
    data = one(docs, "ConfigMap", RELEASE)["data"]
    assert data["NETPROBE_ROLE"] == "vantage"
    assert data["PORTAL_MODULES"] == "netprobe"
    assert data["NETPROBE_SCHEDULER"] == "off"
    assert data["CACHE_URL"].startswith("rediss://")  # replays: one store for every pod
    assert "NETPROBE_VANTAGE_REPLAY_STORE" not in data
    assert "DATABASE_URL" not in data
    web = one(docs, "Deployment", RELEASE)["spec"]["template"]["spec"]["containers"][0]
    assert {"secretRef": {"name": "portal-vantage"}} in web["envFrom"]
    assert web["readinessProbe"]["httpGet"]["path"] == "/healthz"  # /readyz checks a database


def test_a_shared_redis_cache_is_kept_for_replays_across_pods(render: Any) -> None:
    values = vantage_values(config={"cacheUrl": "rediss://cache.example.internal:6379/0"})
    _, docs = rendered(render, values)
    assert one(docs, "ConfigMap", RELEASE)["data"]["CACHE_URL"].startswith("rediss://")


@pytest.mark.parametrize(
    "change",
    [
        {},  # values-vantage.yaml: two replicas and an HPA
        {"replicaCount": 1, "autoscaling": {"enabled": False}},  # two gunicorn workers
    ],
)
def test_a_per_process_cache_with_several_processes_is_refused(helm: Any, change: Doc) -> None:
    values = vantage_values(config={"cacheUrl": "db://portal_cache"}, **change)
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmRenderError) as refused:
        chart.render(values, name=RELEASE, namespace="portal")
    assert "set config.cacheUrl to a shared redis://" in str(refused.value)


def test_one_process_may_keep_its_replays_in_its_own_memory(render: Any) -> None:
    values = vantage_values(
        config={"cacheUrl": "db://portal_cache"},
        replicaCount=1,
        autoscaling={"enabled": False},
        gunicorn={"workers": 1},
    )
    _, docs = rendered(render, values)
    data = one(docs, "ConfigMap", RELEASE)["data"]
    assert data["CACHE_URL"] == "locmem://"  # the default db:// cache would need a database
    assert data["GUNICORN_WORKERS"] == "1"
    assert data["NETPROBE_VANTAGE_REPLAY_STORE"] == "process"


def test_routes_only_the_signed_endpoint_and_healthz(render: Any) -> None:
    gateway = {
        "enabled": True,
        "parentRefs": [{"name": "portal", "namespace": "gateway-system"}],
        "hostnames": ["vantage-eu.portal.example.com"],
    }
    _, docs = rendered(render, vantage_values(httpRoute=gateway))

    (rule,) = one(docs, "Ingress", RELEASE)["spec"]["rules"]
    paths = [{"path": p["path"], "pathType": p["pathType"]} for p in rule["http"]["paths"]]
    route = one(docs, "HTTPRoute", RELEASE)["spec"]["rules"]

    assert paths == VANTAGE_PATHS  # values-vantage.yaml asks for "/": not routed
    assert [m["path"] for r in route for m in r["matches"]] == [
        {"type": "PathPrefix", "value": "/vantage/v1/"},
        {"type": "Exact", "value": "/healthz"},
    ]


def test_helm_test_and_notes_check_healthz(render: Any) -> None:
    templates, _ = rendered(render, vantage_values(serviceMonitor={"enabled": True}))
    test_pod = templates["portal/templates/tests/test-connection.yaml"]
    notes = templates["portal/templates/NOTES.txt"]

    assert f"http://{RELEASE}:80/healthz" in test_pod
    assert "NETPROBE_ROLE=vantage" in notes
    assert "/readyz" not in notes
    assert templates["portal/templates/servicemonitor.yaml"].strip() == ""  # no /metrics


def test_a_vantage_serves_netprobe_only(helm: Any) -> None:
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmRenderError) as refused:
        chart.render(vantage_values(module="sos"), name=RELEASE, namespace="portal")
    assert "role vantage serves NetProbe only" in str(refused.value)


def test_the_schema_refuses_an_unknown_role(helm: Any) -> None:
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmValuesError) as refused:
        chart.validate_schema({"role": "probe"})
    assert "/role" in str(refused.value)


def test_a_hub_release_is_unchanged_by_the_role(render: Any) -> None:
    values = yaml.safe_load((CHART / "values-netprobe.yaml").read_text())
    _, docs = rendered(render, values)
    assert "NETPROBE_ROLE" not in one(docs, "ConfigMap", RELEASE)["data"]
    assert len(by_kind(docs, "Job")) == 1  # the migrations hook
    web = one(docs, "Deployment", RELEASE)["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
