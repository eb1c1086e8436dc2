"""The NetProbe pilot manifests (ops/kubernetes_orchestration): valid for Kubernetes 1.33 and
carrying what the issue asks for."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

import pytest
import yaml

from tests.ops.support import (
    KUBERNETES_VERSION,
    KUBERNETES_VERSIONS,
    REPO,
    Doc,
    all_containers,
    one,
    pod_spec,
    validate_strict,
    workloads,
)

# Nothing here touches the database: left out of the PostgreSQL pass.
pytestmark = pytest.mark.nodb

NAME = "portal-netprobe"


def test_validates_every_raw_manifest_strictly_for_kubernetes_1_30_and_1_33(
    raw_docs: list[Doc],
) -> None:
    kinds = set()
    for doc in raw_docs:
        for version in KUBERNETES_VERSIONS:
            assert validate_strict(doc, version) == version.removesuffix(".0")
        kinds.add(doc["kind"])
    assert {
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "CronJob",
        "Job",
    } <= kinds


def test_rejects_a_manifest_with_an_unknown_field(raw_docs: list[Doc]) -> None:
    # The strict validation is real: a typo in a container field is caught.
    kv = pytest.importorskip("kubernetes_validate")
    broken = yaml.safe_load(yaml.safe_dump(one(raw_docs, "Deployment")))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, KUBERNETES_VERSION, strict=True)


def test_lists_every_manifest_but_the_example_secret_in_the_kustomization(
    raw_manifests: dict[str, list[Doc]], raw_docs: list[Doc]
) -> None:
    kustomization = raw_manifests["kustomization.yaml"][0]
    on_disk = set(raw_manifests) - {"kustomization.yaml", "cluster.yaml"}  # eksctl reads that one
    assert set(kustomization["resources"]) == on_disk - {"secret.example.yaml"}
    assert kustomization["namespace"] == "portal"
    image = pod_spec(one(raw_docs, "Deployment", NAME))["containers"][0]["image"]
    repository, tag = image.rsplit(":", 1)
    assert kustomization["images"] == [{"name": repository, "newTag": tag}]


def test_keeps_only_placeholders_in_the_example_secret(raw_manifests: dict[str, Any]) -> None:
    secret = raw_manifests["secret.example.yaml"][0]
    assert set(secret["stringData"]) >= {"SECRET_KEY", "DATABASE_URL"}
    for value in secret["stringData"].values():
        assert re.fullmatch(r".*<[^>]+>.*", value), value
    assert "data" not in secret


def test_runs_three_netprobe_web_replicas_with_probes(raw_docs: list[Doc]) -> None:
    deployment = one(raw_docs, "Deployment", NAME)
    # The HPA owns the count (from 3): a `replicas` here would reset it on every apply.
    assert "replicas" not in deployment["spec"]
    assert one(raw_docs, "HorizontalPodAutoscaler")["spec"]["minReplicas"] == 3
    (web,) = deployment["spec"]["template"]["spec"]["containers"]
    assert web["args"] == ["web"]
    assert web["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    ports = {p["name"]: p["containerPort"] for p in web["ports"]}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert web[probe]["httpGet"]["port"] in ports
    env = {e["name"]: e.get("value") for e in web["env"]}
    assert int(env["PORT"]) == ports["http"] == 8000

    configmap = one(raw_docs, "ConfigMap", NAME)
    assert configmap["data"]["PORTAL_MODULES"] == "netprobe"
    # The probes' Host header must be an allowed host, or Django answers 400.
    host = web["readinessProbe"]["httpGet"]["httpHeaders"][0]["value"]
    assert host in configmap["data"]["ALLOWED_HOSTS"].split(",")
    # The ALB's health checks use the pod's IP as the Host: the web pods add it.
    assert env["ALLOWED_HOSTS"] == configmap["data"]["ALLOWED_HOSTS"] + ",$(POD_IP)"
    refs = [next(iter(ref.values()))["name"] for ref in web["envFrom"]]
    assert refs == [NAME, NAME]


def test_gives_every_container_requests_and_limits_and_locks_it_down(
    raw_docs: list[Doc],
) -> None:
    pods = workloads(raw_docs)
    assert {d["kind"] for d in pods} == {"Deployment", "CronJob", "Job"}
    for doc in pods:
        spec = pod_spec(doc)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] >= 10000
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in all_containers(doc):
            where = f"{doc['kind']}/{doc['metadata']['name']}/{container['name']}"
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][part]), where
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], where


def test_lets_netprobe_ping_without_privileges(raw_docs: list[Doc]) -> None:
    for doc in (one(raw_docs, "Deployment", NAME), one(raw_docs, "CronJob", f"{NAME}-monitors")):
        spec = pod_spec(doc)
        sysctls = {s["name"]: s["value"] for s in spec["securityContext"]["sysctls"]}
        gid = spec["securityContext"]["runAsGroup"]
        low, high = (int(x) for x in sysctls["net.ipv4.ping_group_range"].split())
        assert low <= gid <= high
        for container in spec["containers"]:
            assert "add" not in container["securityContext"]["capabilities"]


def test_rolls_out_cleanly(raw_docs: list[Doc]) -> None:
    deployment = one(raw_docs, "Deployment", NAME)
    spec = deployment["spec"]["template"]["spec"]
    (web,) = spec["containers"]
    pre_stop = web["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful = int(one(raw_docs, "ConfigMap", NAME)["data"]["GUNICORN_GRACEFUL_TIMEOUT"])
    assert pre_stop + graceful < spec["terminationGracePeriodSeconds"]
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    zones = [c for c in spec["topologySpreadConstraints"] if "zone" in c["topologyKey"]]
    assert zones[0]["topologyKey"] == "topology.kubernetes.io/zone"


def test_autoscales_from_three_and_limits_disruptions(raw_docs: list[Doc]) -> None:
    hpa = one(raw_docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == NAME
    assert hpa["spec"]["minReplicas"] == 3
    assert hpa["spec"]["maxReplicas"] > 3
    pdb = one(raw_docs, "PodDisruptionBudget")
    labels = one(raw_docs, "Deployment", NAME)["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = one(raw_docs, "Service")
    assert service["spec"]["selector"].items() <= labels.items()


def test_fences_the_network(raw_docs: list[Doc]) -> None:
    policy = one(raw_docs, "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    labels = one(raw_docs, "Deployment", NAME)["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    peers = [peer for rule in policy["ingress"] for peer in rule["from"]]
    # The ALB sends to pod IPs (target-type ip) from the VPC: an ipBlock, no controller pods.
    assert one(raw_docs, "Ingress")["spec"]["ingressClassName"] == "alb"
    assert {"ipBlock": {"cidr": "10.1.0.0/16"}} in peers
    assert not any("namespaceSelector" in p for p in peers)
    dns = [r for r in policy["egress"] if {p["port"] for p in r.get("ports", [])} == {53}]
    assert dns, "no DNS egress"
    internet = [
        p["ipBlock"]
        for r in policy["egress"]
        for p in r["to"]
        if "ipBlock" in p and p["ipBlock"]["cidr"] in ("0.0.0.0/0", "::/0")
    ]
    assert {b["cidr"] for b in internet} == {"0.0.0.0/0", "::/0"}
    blocked = [ipaddress.ip_network(c) for b in internet for c in b["except"]]
    for address in ("169.254.169.254", "10.1.2.3", "172.20.0.10", "192.168.1.1", "fd00:ec2::254"):
        ip = ipaddress.ip_address(address)
        assert any(ip in net for net in blocked if net.version == ip.version), address


def test_schedules_the_monitors_and_migrates_in_a_job(raw_docs: list[Doc]) -> None:
    cronjob = one(raw_docs, "CronJob", f"{NAME}-monitors")
    assert cronjob["spec"]["schedule"] == "* * * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert pod_spec(cronjob)["containers"][0]["args"] == ["monitors"]
    job = one(raw_docs, "Job")
    assert pod_spec(job)["containers"][0]["args"] == ["migrate"]
    assert pod_spec(job)["restartPolicy"] == "Never"


def lambda_prune_schedule() -> str:
    """zappa_settings.json's prune event, `cron(M H D Mo W Y)`, as Kubernetes' five fields."""
    settings = json.loads((REPO / "zappa_settings.json").read_text())
    (expression,) = {
        event["expression"]
        for stage in settings.values()
        for event in stage.get("events", [])
        if event["function"] == "portal.lambda_tasks.prune"
    }
    fields = expression.removeprefix("cron(").removesuffix(")").split()
    return " ".join("*" if f == "?" else f for f in fields[:5])


def test_prunes_old_results_daily_without_icmp(raw_docs: list[Doc]) -> None:
    cronjob = one(raw_docs, "CronJob", f"{NAME}-prune")
    assert cronjob["spec"]["schedule"] == "17 3 * * *"
    # The time of the Lambda stage's daily `prune` event, so moving changes nothing for users.
    assert cronjob["spec"]["schedule"] == lambda_prune_schedule()
    assert cronjob["spec"]["timeZone"] == "Etc/UTC"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert cronjob["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] <= 3600
    assert cronjob["metadata"]["labels"]["app.kubernetes.io/component"] == "prune"
    spec = pod_spec(cronjob)
    (container,) = spec["containers"]
    # `prune` with PORTAL_MODULES=netprobe (the ConfigMap) runs netprobe_prune.
    assert container["args"] == ["prune"]
    refs = [next(iter(ref.values()))["name"] for ref in container["envFrom"]]
    assert refs == [NAME, NAME]
    assert one(raw_docs, "ConfigMap", NAME)["data"]["PORTAL_MODULES"] == "netprobe"
    assert "sysctls" not in spec["securityContext"]
