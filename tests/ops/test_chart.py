"""The portal Helm chart: lint, render per module, validate, and check what matters in the output,
including that the netprobe release renders the raw pilot manifests' container specs."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.ops.support import (
    CHART,
    KUBERNETES_VERSION,
    MODULES,
    Doc,
    Rendered,
    all_containers,
    by_kind,
    load_docs,
    module_values,
    one,
    pod_spec,
    validate_strict,
    workloads,
)

# Nothing here touches the database: left out of the PostgreSQL pass.
pytestmark = pytest.mark.nodb

EXPECTED_PORTAL_MODULES = {
    "netprobe": "netprobe",
    "sos": "sos",
    "faces": "faces",
    "all": "netprobe,sos,faces",
}


def test_it_passes_helm_lint_strict_for_every_module(helm: Any) -> None:
    for values in (None, *(module_values(m) for m in MODULES)):
        report = helm.lint(str(CHART), values, strict=True, kube_version=f"v{KUBERNETES_VERSION}")
        assert report["errors"] == []
        # Severity 1 is information ("icon is recommended"); warnings and errors fail.
        findings = [m for m in report["messages"] if m["severity"] >= 2]
        assert findings == [], findings


def test_it_renders_documents_valid_for_kubernetes_1_33(rendered: dict[str, Rendered]) -> None:
    for module in MODULES:
        docs = rendered[module].docs
        assert len(docs) >= 10, module
        for doc in docs:
            assert validate_strict(doc) == "1.33"
            assert doc["metadata"]["namespace"] == "portal", doc["metadata"]["name"]


def test_it_renders_no_blank_lines_with_trailing_spaces(rendered: dict[str, Rendered]) -> None:
    for module in MODULES:
        for path, text in rendered[module].templates.items():
            lines = [n for n, line in enumerate(text.splitlines(), 1) if line and not line.strip()]
            assert lines == [], f"{module}: {path} lines {lines}"


def test_it_sets_portal_modules_per_module(rendered: dict[str, Rendered]) -> None:
    for module in MODULES:
        release = rendered[module]
        configmap = one(release.docs, "ConfigMap", release.release)
        assert configmap["data"]["PORTAL_MODULES"] == EXPECTED_PORTAL_MODULES[module]
        notes = release.templates["portal/templates/NOTES.txt"]
        assert f"PORTAL_MODULES={EXPECTED_PORTAL_MODULES[module]}" in notes


def test_it_adds_the_worker_only_for_sos_and_all(rendered: dict[str, Rendered]) -> None:
    for module in MODULES:
        release = rendered[module]
        workers = [
            d
            for d in by_kind(release.docs, "Deployment")
            if d["metadata"]["name"] == f"{release.release}-worker"
        ]
        assert len(workers) == (1 if module in ("sos", "all") else 0), module
        for worker in workers:
            assert pod_spec(worker)["containers"][0]["args"] == ["worker"]
    sos_worker = one(rendered["sos"].docs, "Deployment", "portal-sos-worker")
    assert sos_worker["spec"]["replicas"] == 2  # values-sos.yaml


def test_it_adds_the_monitors_cronjob_only_for_netprobe_and_all(
    rendered: dict[str, Rendered],
) -> None:
    for module in MODULES:
        cronjobs = by_kind(rendered[module].docs, "CronJob")
        assert len(cronjobs) == (1 if module in ("netprobe", "all") else 0), module
        for cronjob in cronjobs:
            assert pod_spec(cronjob)["containers"][0]["args"] == ["monitors"]


def test_it_lets_only_netprobe_pods_ping(rendered: dict[str, Rendered]) -> None:
    for module in MODULES:
        for doc in workloads(rendered[module].docs):
            sysctls = pod_spec(doc)["securityContext"].get("sysctls", [])
            component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
            pings = module in ("netprobe", "all") and component in ("web", "monitors")
            assert bool(sysctls) == pings, f"{module} {component}"


def test_it_probes_the_health_endpoints_of_every_web_deployment(
    rendered: dict[str, Rendered],
) -> None:
    for module in MODULES:
        release = rendered[module]
        web = one(release.docs, "Deployment", release.release)
        (container,) = pod_spec(web)["containers"]
        assert container["args"] == ["web"]
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
        host = container["readinessProbe"]["httpGet"]["httpHeaders"][0]["value"]
        allowed = one(release.docs, "ConfigMap", release.release)["data"]["ALLOWED_HOSTS"]
        assert host in allowed.split(",")


def test_it_scales_web_pods_from_three(render: Any, rendered: dict[str, Rendered]) -> None:
    for module in MODULES:
        release = rendered[module]
        web = one(release.docs, "Deployment", release.release)
        # The HPA owns the replica count: a rendered count would reset it on every upgrade.
        assert "replicas" not in web["spec"]
        hpa = one(release.docs, "HorizontalPodAutoscaler")
        assert hpa["spec"]["minReplicas"] == 3
        assert hpa["spec"]["scaleTargetRef"]["name"] == release.release
        assert one(release.docs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    fixed = render({**module_values("netprobe"), "autoscaling": {"enabled": False}}, "portal-np")
    docs = [d for path, text in fixed.items() if path.endswith(".yaml") for d in load_docs(text)]
    assert one(docs, "Deployment", "portal-np")["spec"]["replicas"] == 3
    assert by_kind(docs, "HorizontalPodAutoscaler") == []


def test_it_gives_every_container_requests_and_limits_and_no_root(
    rendered: dict[str, Rendered],
) -> None:
    for module in MODULES:
        pods = workloads(rendered[module].docs)
        kinds = {(d["kind"], d["metadata"]["labels"]["app.kubernetes.io/component"]) for d in pods}
        # The migration hook and the `helm test` pod are checked like the rest.
        assert {("Deployment", "web"), ("Job", "migrate"), ("Pod", "test")} <= kinds
        for doc in pods:
            spec = pod_spec(doc)
            assert spec["securityContext"]["runAsNonRoot"] is True
            assert spec["securityContext"]["runAsUser"] >= 10000
            assert spec["automountServiceAccountToken"] is False
            for container in all_containers(doc):
                where = f"{module}: {doc['kind']}/{doc['metadata']['name']}/{container['name']}"
                for part in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(container["resources"][part]), where
                assert container["securityContext"]["readOnlyRootFilesystem"] is True, where
                assert container["securityContext"]["allowPrivilegeEscalation"] is False, where


def _memory_mib(quantity: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(Mi|Gi)", quantity).groups()
    return float(number) * (1024 if unit == "Gi" else 1)


def test_it_gives_face_comparison_more_memory(rendered: dict[str, Rendered]) -> None:
    def web_memory(module: str) -> float:
        release = rendered[module]
        web = one(release.docs, "Deployment", release.release)
        return _memory_mib(pod_spec(web)["containers"][0]["resources"]["limits"]["memory"])

    assert web_memory("faces") >= 2 * web_memory("netprobe")
    assert web_memory("all") >= web_memory("faces")
    assert web_memory("sos") == web_memory("netprobe")


def test_it_runs_migrations_as_a_pre_install_and_pre_upgrade_hook(
    rendered: dict[str, Rendered],
) -> None:
    for module in MODULES:
        release = rendered[module]
        job = one(release.docs, "Job", f"{release.release}-migrate")
        annotations = job["metadata"]["annotations"]
        assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
        assert pod_spec(job)["containers"][0]["args"] == ["migrate"]
        # What the hook Job reads must exist before it: hooks with a lower weight.
        job_weight = int(annotations["helm.sh/hook-weight"])
        for kind in ("ConfigMap", "ServiceAccount"):
            dependency = one(release.docs, kind, release.release)["metadata"]["annotations"]
            assert "pre-install" in dependency["helm.sh/hook"]
            assert int(dependency["helm.sh/hook-weight"]) < job_weight
        test_pod = one(release.docs, "Pod")
        assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"


# Fields of a pod template that must not drift between the raw pilot and the chart. The image
# (its registry and tag) and the labels (Helm adds its own) are the only differences allowed.
POD_FIELDS = (
    "serviceAccountName",
    "automountServiceAccountToken",
    "enableServiceLinks",
    "securityContext",
    "terminationGracePeriodSeconds",
    "topologySpreadConstraints",
    "volumes",
    "restartPolicy",
)


def _comparable_pod(doc: Doc) -> Doc:
    spec = pod_spec(doc)
    containers = [{k: v for k, v in c.items() if k != "image"} for c in spec["containers"]]
    return {"containers": containers, **{f: spec.get(f) for f in POD_FIELDS}}


@pytest.mark.parametrize(
    ("kind", "raw_name", "chart_name"),
    [
        ("Deployment", "portal-netprobe", "portal-netprobe"),
        ("CronJob", "portal-netprobe-monitors", "portal-netprobe-monitors"),
        ("Job", "portal-netprobe-migrate", "portal-netprobe-migrate"),
    ],
)
def test_it_renders_the_raw_pilot_pod_specs_for_the_netprobe_release(
    raw_docs: list[Doc], rendered: dict[str, Rendered], kind: str, raw_name: str, chart_name: str
) -> None:
    raw = one(raw_docs, kind, raw_name)
    chart = one(rendered["netprobe"].docs, kind, chart_name)
    assert _comparable_pod(chart) == _comparable_pod(raw)
    if kind == "Deployment":
        assert chart["spec"]["selector"] == raw["spec"]["selector"]
        assert chart["spec"]["strategy"] == raw["spec"]["strategy"]
    # Same image repository; the tag is the release's.
    raw_image = pod_spec(raw)["containers"][0]["image"]
    assert pod_spec(chart)["containers"][0]["image"] == raw_image


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("ConfigMap", ("data",)),
        ("Service", ("spec",)),
        ("HorizontalPodAutoscaler", ("spec",)),
        ("PodDisruptionBudget", ("spec",)),
        ("NetworkPolicy", ("spec",)),
        ("Ingress", ("spec",)),
        ("ServiceAccount", ("automountServiceAccountToken",)),
    ],
)
def test_it_renders_the_raw_pilot_objects_for_the_netprobe_release(
    raw_docs: list[Doc], rendered: dict[str, Rendered], kind: str, path: tuple[str, ...]
) -> None:
    raw: Any = one(raw_docs, kind, "portal-netprobe")
    chart: Any = one(rendered["netprobe"].docs, kind, "portal-netprobe")
    for key in path:
        raw, chart = raw[key], chart[key]
    assert chart == raw


def test_it_detects_drift_between_the_chart_and_the_raw_manifests(
    raw_docs: list[Doc], render: Any
) -> None:
    # The comparison can fail: a release with another probe period no longer matches.
    values = module_values("netprobe")
    values["readinessProbe"] = {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 7}
    drifted = render(values, "portal-netprobe")["portal/templates/deployment.yaml"]
    chart = one(load_docs(drifted), "Deployment", "portal-netprobe")
    assert _comparable_pod(chart) != _comparable_pod(one(raw_docs, "Deployment", "portal-netprobe"))
