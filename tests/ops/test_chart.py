"""The portal Helm chart: lint, render per module, validate, and check what matters in the output,
including that the netprobe release renders the raw pilot manifests' container specs."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.ops.crds import is_custom_resource, validate_crds
from tests.ops.support import (
    CHART,
    KUBERNETES_VERSION,
    KUBERNETES_VERSIONS,
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


def test_passes_helm_lint_strict_for_every_module(helm: Any) -> None:
    for values in (None, *(module_values(m) for m in MODULES)):
        report = helm.lint(str(CHART), values, strict=True, kube_version=f"v{KUBERNETES_VERSION}")
        assert report["errors"] == []
        # Severity 1 is information ("icon is recommended"); warnings and errors fail.
        findings = [m for m in report["messages"] if m["severity"] >= 2]
        assert findings == [], findings


def test_renders_documents_valid_for_kubernetes_1_30_and_1_33(
    rendered: dict[str, Rendered],
) -> None:
    custom = []
    for module in MODULES:
        docs = rendered[module].docs
        assert len(docs) >= 10, module
        for doc in docs:
            assert doc["metadata"]["namespace"] == "portal", doc["metadata"]["name"]
            if is_custom_resource(doc):
                custom.append(doc)  # kubernetes-validate has no schema: its CRD's has
                continue
            for version in KUBERNETES_VERSIONS:
                assert validate_strict(doc, version) == version.removesuffix(".0")
    if custom:
        validate_crds(custom)


def test_renders_no_blank_lines_with_trailing_spaces(rendered: dict[str, Rendered]) -> None:
    for module in MODULES:
        for path, text in rendered[module].templates.items():
            lines = [n for n, line in enumerate(text.splitlines(), 1) if line and not line.strip()]
            assert lines == [], f"{module}: {path} lines {lines}"


def test_sets_portal_modules_per_module(rendered: dict[str, Rendered]) -> None:
    for module in MODULES:
        release = rendered[module]
        configmap = one(release.docs, "ConfigMap", release.release)
        assert configmap["data"]["PORTAL_MODULES"] == EXPECTED_PORTAL_MODULES[module]
        notes = release.templates["portal/templates/NOTES.txt"]
        assert f"PORTAL_MODULES={EXPECTED_PORTAL_MODULES[module]}" in notes


def test_adds_the_worker_only_for_sos_and_all(rendered: dict[str, Rendered]) -> None:
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
    # values-sos.yaml: KEDA owns the count, from 2 (tests/ops/test_worker_eks.py).
    assert "replicas" not in sos_worker["spec"]


def _cronjobs(release: Rendered) -> dict[str, Doc]:
    """The release's CronJobs by component."""
    return {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in by_kind(release.docs, "CronJob")
    }


def test_adds_the_monitors_cronjob_only_for_netprobe_and_all(
    rendered: dict[str, Rendered],
) -> None:
    for module in MODULES:
        release = rendered[module]
        cronjobs = _cronjobs(release)
        assert set(cronjobs) <= {"monitors", "prune"}, module
        assert ("monitors" in cronjobs) == (module in ("netprobe", "all")), module
        if "monitors" in cronjobs:
            monitors = cronjobs["monitors"]
            assert monitors["metadata"]["name"] == f"{release.release}-monitors"
            assert pod_spec(monitors)["containers"][0]["args"] == ["monitors"]


def test_adds_the_daily_prune_cronjob_for_every_module(
    rendered: dict[str, Rendered],
) -> None:
    for module in MODULES:
        release = rendered[module]
        cronjobs = _cronjobs(release)
        notes = release.templates["portal/templates/NOTES.txt"]
        prune = cronjobs["prune"]
        assert prune["metadata"]["name"] == f"{release.release}-prune", module
        assert f"cronjob {release.release}-prune" in notes
        spec = prune["spec"]
        assert spec["schedule"] == "17 3 * * *"
        assert spec["timeZone"] == "Etc/UTC"
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["successfulJobsHistoryLimit"] == spec["failedJobsHistoryLimit"] == 3
        job = spec["jobTemplate"]["spec"]
        # The run ends well before the next day's, retries included.
        assert 0 < job["activeDeadlineSeconds"] <= 3600
        pod = pod_spec(prune)
        assert pod["restartPolicy"] == "Never"
        assert "sysctls" not in pod["securityContext"]  # no ICMP: it only deletes rows
        (container,) = pod["containers"]
        # The entrypoint's `prune` mode picks the commands from the release's PORTAL_MODULES
        # (tests/ops/test_entrypoint.py runs it with each release's ConfigMap).
        assert container["args"] == ["prune"]
        assert "command" not in container
        refs = [next(iter(ref.values()))["name"] for ref in container["envFrom"]]
        assert refs[0] == one(release.docs, "ConfigMap", release.release)["metadata"]["name"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe", "ports"):
            assert probe not in container, f"{module}: {probe}"
        assert container["resources"] == {
            "requests": {"cpu": "50m", "memory": "192Mi"},
            "limits": {"cpu": "500m", "memory": "384Mi"},
        }
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


def _render_docs(render: Any, values: Doc, release: str) -> list[Doc]:
    templates = render(values, release)
    return [
        d for path, text in templates.items() if path.endswith(".yaml") for d in load_docs(text)
    ]


def test_follows_the_prune_values(render: Any) -> None:
    off = _render_docs(render, {**module_values("netprobe"), "prune": {"enabled": False}}, "p-np")
    assert [d["metadata"]["name"] for d in by_kind(off, "CronJob")] == ["p-np-portal-monitors"]
    # sos prunes its inbound reply log; switched off, it has no CronJob at all.
    sos = _render_docs(render, {**module_values("sos"), "prune": {"enabled": False}}, "portal-sos")
    assert by_kind(sos, "CronJob") == []
    values = {
        **module_values("faces"),
        "prune": {
            "schedule": "@daily",
            "timeZone": "Europe/Paris",
            "activeDeadlineSeconds": 900,
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 5,
            "resources": {
                "requests": {"cpu": "20m", "memory": "128Mi"},
                "limits": {"cpu": "1", "memory": "512Mi"},
            },
        },
    }
    prune = one(_render_docs(render, values, "portal-faces"), "CronJob", "portal-faces-prune")
    assert validate_strict(prune) == "1.33"
    assert prune["spec"]["schedule"] == "@daily"
    assert prune["spec"]["timeZone"] == "Europe/Paris"
    assert prune["spec"]["successfulJobsHistoryLimit"] == 1
    assert prune["spec"]["failedJobsHistoryLimit"] == 5
    assert prune["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 900
    resources = pod_spec(prune)["containers"][0]["resources"]
    assert resources["limits"] == {"cpu": "1", "memory": "512Mi"}


def test_lets_only_netprobe_pods_ping(rendered: dict[str, Rendered]) -> None:
    for module in MODULES:
        for doc in workloads(rendered[module].docs):
            sysctls = pod_spec(doc)["securityContext"].get("sysctls", [])
            component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
            pings = module in ("netprobe", "all") and component in ("web", "monitors")
            assert bool(sysctls) == pings, f"{module} {component}"


def test_probes_the_health_endpoints_of_every_web_deployment(
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


def test_scales_web_pods_from_three(render: Any, rendered: dict[str, Rendered]) -> None:
    for module in MODULES:
        release = rendered[module]
        web = one(release.docs, "Deployment", release.release)
        # The HPA owns the replica count: a rendered count would reset it on every upgrade.
        assert "replicas" not in web["spec"]
        hpa = one(release.docs, "HorizontalPodAutoscaler")
        assert hpa["spec"]["minReplicas"] == 3
        assert hpa["spec"]["scaleTargetRef"]["name"] == release.release
        pdb = one(release.docs, "PodDisruptionBudget", release.release)
        assert pdb["spec"]["maxUnavailable"] == 1
    fixed = render({**module_values("netprobe"), "autoscaling": {"enabled": False}}, "portal-np")
    docs = [d for path, text in fixed.items() if path.endswith(".yaml") for d in load_docs(text)]
    assert one(docs, "Deployment", "portal-np")["spec"]["replicas"] == 3
    assert by_kind(docs, "HorizontalPodAutoscaler") == []


def test_gives_every_container_requests_and_limits_and_no_root(
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


def test_gives_face_comparison_more_memory(rendered: dict[str, Rendered]) -> None:
    def web_memory(module: str) -> float:
        release = rendered[module]
        web = one(release.docs, "Deployment", release.release)
        return _memory_mib(pod_spec(web)["containers"][0]["resources"]["limits"]["memory"])

    assert web_memory("faces") >= 2 * web_memory("netprobe")
    assert web_memory("all") >= web_memory("faces")
    assert web_memory("sos") == web_memory("netprobe")


def test_runs_migrations_as_a_pre_install_and_pre_upgrade_hook(
    rendered: dict[str, Rendered],
) -> None:
    for module in MODULES:
        release = rendered[module]
        job = one(release.docs, "Job", f"{release.release}-migrate")
        annotations = job["metadata"]["annotations"]
        assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
        assert pod_spec(job)["containers"][0]["args"] == ["migrate"]
        # Nothing the hook Job reads is a hook any more: it carries its settings and runs as an
        # account that exists before the release (tests/ops/test_chart_eks.py).
        for kind in ("ConfigMap", "ServiceAccount"):
            metadata = one(release.docs, kind, release.release)["metadata"]
            assert "helm.sh/hook" not in metadata.get("annotations", {}), f"{module} {kind}"
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


def _comparable_job(doc: Doc) -> Doc:
    """What wraps the pod template of a Job or a CronJob: schedule, policy, deadlines, limits."""
    spec = doc["spec"]
    schedule = {}
    if doc["kind"] == "CronJob":
        schedule = {k: v for k, v in spec.items() if k != "jobTemplate"}
        spec = spec["jobTemplate"]["spec"]
    return {**schedule, "job": {k: v for k, v in spec.items() if k != "template"}}


@pytest.mark.parametrize(
    ("kind", "raw_name", "chart_name"),
    [
        ("Deployment", "portal-netprobe", "portal-netprobe"),
        ("CronJob", "portal-netprobe-monitors", "portal-netprobe-monitors"),
        ("CronJob", "portal-netprobe-prune", "portal-netprobe-prune"),
        ("Job", "portal-netprobe-migrate", "portal-netprobe-migrate"),
    ],
)
def test_renders_the_raw_pilot_pod_specs_for_the_netprobe_release(
    raw_docs: list[Doc], rendered: dict[str, Rendered], kind: str, raw_name: str, chart_name: str
) -> None:
    raw = one(raw_docs, kind, raw_name)
    chart = one(rendered["netprobe"].docs, kind, chart_name)
    assert _comparable_pod(chart) == _comparable_pod(raw)
    if kind == "Deployment":
        assert chart["spec"]["selector"] == raw["spec"]["selector"]
        assert chart["spec"]["strategy"] == raw["spec"]["strategy"]
    else:
        assert _comparable_job(chart) == _comparable_job(raw)
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
        ("Ingress", ("metadata", "annotations")),
        ("ServiceAccount", ("automountServiceAccountToken",)),
    ],
)
def test_renders_the_raw_pilot_objects_for_the_netprobe_release(
    raw_docs: list[Doc], rendered: dict[str, Rendered], kind: str, path: tuple[str, ...]
) -> None:
    raw: Any = one(raw_docs, kind, "portal-netprobe")
    chart: Any = one(rendered["netprobe"].docs, kind, "portal-netprobe")
    for key in path:
        raw, chart = raw[key], chart[key]
    assert chart == raw


def test_detects_drift_between_the_chart_and_the_raw_manifests(
    raw_docs: list[Doc], render: Any
) -> None:
    # The comparison can fail: a release with another probe period no longer matches.
    values = module_values("netprobe")
    values["readinessProbe"] = {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 7}
    drifted = render(values, "portal-netprobe")["portal/templates/deployment.yaml"]
    chart = one(load_docs(drifted), "Deployment", "portal-netprobe")
    assert _comparable_pod(chart) != _comparable_pod(one(raw_docs, "Deployment", "portal-netprobe"))


@pytest.mark.parametrize(
    ("prune", "differs"),
    [
        ({"schedule": "17 4 * * *"}, _comparable_job),
        ({"failedJobsHistoryLimit": 1}, _comparable_job),
        ({"activeDeadlineSeconds": 600}, _comparable_job),
        (
            {
                "resources": {
                    "requests": {"cpu": "50m", "memory": "192Mi"},
                    "limits": {"cpu": "1", "memory": "384Mi"},
                }
            },
            _comparable_pod,
        ),
    ],
)
def test_detects_drift_between_the_chart_and_the_raw_prune_cronjob(
    raw_docs: list[Doc], render: Any, prune: Doc, differs: Any
) -> None:
    raw = one(raw_docs, "CronJob", "portal-netprobe-prune")
    values = {**module_values("netprobe"), "prune": prune}
    drifted = render(values, "portal-netprobe")["portal/templates/cronjob-prune.yaml"]
    chart = one(load_docs(drifted), "CronJob", "portal-netprobe-prune")
    assert differs(chart) != differs(raw)
