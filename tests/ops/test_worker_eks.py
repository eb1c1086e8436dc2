"""The SOS worker and the secrets on EKS: the worker's liveness probe and PDB, KEDA scaling it
on the deliveries due, External Secrets syncing the Secret the pods read; the custom resources
checked against their CRDs' schemas."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.ops.crds import crd_errors, is_custom_resource, validate_crds
from tests.ops.support import (
    MODULES,
    Doc,
    Rendered,
    by_kind,
    load_docs,
    module_values,
    one,
    pod_spec,
)

pytestmark = pytest.mark.nodb

WORKER_MODULES = ("sos", "all")


def _docs(render: Any, values: Doc, release: str) -> list[Doc]:
    templates = render(values, release)
    return [d for p, t in templates.items() if p.endswith(".yaml") for d in load_docs(t)]


def _worker(release: Rendered) -> Doc:
    return one(release.docs, "Deployment", f"{release.release}-worker")


def test_the_worker_has_a_liveness_probe_on_its_heartbeat(rendered: dict[str, Rendered]) -> None:
    for module in WORKER_MODULES:
        (container,) = pod_spec(_worker(rendered[module]))["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        path = env["SOS_WORKER_HEARTBEAT"]
        # The file is in the writable /tmp emptyDir (the root filesystem is read-only).
        assert path.startswith("/tmp/")
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        command = container["livenessProbe"]["exec"]["command"]
        assert command[:3] == ["python3", "-m", "modules.sos.outbox.heartbeat"]
        assert command[command.index("--path") + 1] == path
        # Longer than the lease the worker gets: outcomes written through a database outage
        # hold the loop for up to a lease.
        data = one(rendered[module].docs, "ConfigMap", rendered[module].release)["data"]
        lease = int(data["SOS_LEASE_S"])
        assert int(command[command.index("--max-age") + 1]) == lease + 30
        assert "readinessProbe" not in container


def test_raising_the_lease_raises_the_worker_liveness_limit(render: Any) -> None:
    def limits(values: dict[str, Any]) -> tuple[int, int]:
        release = "portal-sos"
        docs = _docs(render, values, release)
        (container,) = pod_spec(one(docs, "Deployment", f"{release}-worker"))["containers"]
        command = container["livenessProbe"]["exec"]["command"]
        lease = int(one(docs, "ConfigMap", release)["data"]["SOS_LEASE_S"])
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        lease = int(env.get("SOS_LEASE_S", lease))  # the container's env wins over envFrom
        return lease, int(command[command.index("--max-age") + 1])

    sos = module_values("sos")
    assert limits(sos) == (90, 120)
    worker = {**sos["worker"], "leaseSeconds": 300}
    assert limits({**sos, "worker": worker}) == (300, 330)
    extra = {**sos, "config": {**sos["config"], "extra": {"SOS_LEASE_S": "240"}}}
    assert limits(extra) == (240, 270)
    env = {**sos, "extraEnv": [{"name": "SOS_LEASE_S", "value": "600"}]}
    assert limits(env) == (600, 630)


def test_the_worker_has_a_pod_disruption_budget(rendered: dict[str, Rendered]) -> None:
    for module in MODULES:
        release = rendered[module]
        pdbs = [
            d
            for d in by_kind(release.docs, "PodDisruptionBudget")
            if d["metadata"]["name"] == f"{release.release}-worker"
        ]
        if module not in WORKER_MODULES:
            assert pdbs == [], module
            continue
        (pdb,) = pdbs
        assert pdb["spec"]["maxUnavailable"] == 1
        labels = pod_spec(_worker(release)) and _worker(release)["spec"]["template"]["metadata"]
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels["labels"].items()
        assert selector["app.kubernetes.io/component"] == "worker"


def test_keda_scales_the_worker_on_the_deliveries_due(rendered: dict[str, Rendered]) -> None:
    for module in WORKER_MODULES:
        release = rendered[module]
        worker = _worker(release)
        scaled = one(release.docs, "ScaledObject")
        assert scaled["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
        # KEDA's HPA owns the count: no replicas rendered, no HPA of ours on the worker.
        assert "replicas" not in worker["spec"]
        hpa_targets = [
            h["spec"]["scaleTargetRef"]["name"]
            for h in by_kind(release.docs, "HorizontalPodAutoscaler")
        ]
        assert worker["metadata"]["name"] not in hpa_targets
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["type"] == "postgresql"
        assert "sos_delivery" in trigger["metadata"]["query"]
        auth = one(release.docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
        (ref,) = auth["spec"]["secretTargetRef"]
        assert ref["parameter"] == "connection"
        assert ref["key"] == "DATABASE_URL"
        secret_refs = [
            e["secretRef"]["name"]
            for e in worker["spec"]["template"]["spec"]["containers"][0]["envFrom"]
            if "secretRef" in e
        ]
        assert ref["name"] in secret_refs
    sos = one(rendered["sos"].docs, "ScaledObject")["spec"]
    assert (sos["minReplicaCount"], sos["maxReplicaCount"]) == (2, 10)  # values-sos.yaml


def test_without_keda_the_worker_keeps_its_replica_count(render: Any) -> None:
    values = module_values("sos")
    values["worker"] = {**values["worker"], "keda": {"enabled": False}}
    docs = _docs(render, values, "portal-sos")
    assert by_kind(docs, "ScaledObject") == by_kind(docs, "TriggerAuthentication") == []
    assert one(docs, "Deployment", "portal-sos-worker")["spec"]["replicas"] == 2


def test_external_secrets_sync_the_secret_the_pods_read(rendered: dict[str, Rendered]) -> None:
    for module in MODULES:
        release = rendered[module]
        assert by_kind(release.docs, "Secret") == []  # no plain Secret by default
        external = one(release.docs, "ExternalSecret")
        store = one(release.docs, "SecretStore")
        assert external["spec"]["secretStoreRef"] == {
            "kind": "SecretStore",
            "name": store["metadata"]["name"],
        }
        assert store["spec"]["provider"]["aws"]["service"] == "SecretsManager"
        assert store["spec"]["provider"]["aws"]["region"] == "us-east-1"
        # The controller's Pod Identity reads Secrets Manager: no static keys in the store.
        assert "auth" not in store["spec"]["provider"]["aws"]
        assert external["spec"]["dataFrom"] == [{"extract": {"key": f"portal/production/{module}"}}]
        target = external["spec"]["target"]["name"]
        for workload in by_kind(release.docs, "Deployment") + by_kind(release.docs, "CronJob"):
            for container in pod_spec(workload)["containers"]:
                names = [e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e]
                assert names == [target], workload["metadata"]["name"]
        for doc in (external, store):
            assert "helm.sh/hook" not in doc["metadata"].get("annotations", {})


def test_a_plain_secret_is_an_explicit_opt_in(render: Any) -> None:
    values = {
        **module_values("netprobe"),
        "secret": {"source": "plain", "stringData": {"SECRET_KEY": "dev", "DATABASE_URL": "x"}},
    }
    docs = _docs(render, values, "portal-netprobe")
    assert one(docs, "Secret", "portal-netprobe")["stringData"]["SECRET_KEY"] == "dev"
    assert by_kind(docs, "ExternalSecret") == by_kind(docs, "SecretStore") == []
    existing = {
        **module_values("netprobe"),
        "secret": {"source": "existing", "existingSecret": "s"},
    }
    docs = _docs(render, existing, "portal-netprobe")
    assert by_kind(docs, "Secret") == by_kind(docs, "ExternalSecret") == []
    web = one(docs, "Deployment", "portal-netprobe")
    assert {"secretRef": {"name": "s"}} in pod_spec(web)["containers"][0]["envFrom"]


def test_every_custom_resource_validates_against_its_crd_schema(
    rendered: dict[str, Rendered], render: Any
) -> None:
    docs = [d for m in MODULES for d in rendered[m].docs if is_custom_resource(d)]
    kinds = {d["kind"] for d in docs}
    assert {"ScaledObject", "TriggerAuthentication", "ExternalSecret", "SecretStore"} <= kinds
    # The other shapes the values allow: IRSA auth, single keys, a ClusterSecretStore.
    values = module_values("sos")
    values["secret"] = {
        **values["secret"],
        "externalSecrets": {
            "remoteKey": "",
            "data": [{"secretKey": "EMAIL_HOST_PASSWORD", "remoteKey": "smtp", "property": "pw"}],
            "secretStore": {"auth": "serviceAccount"},
        },
    }
    docs += [d for d in _docs(render, values, "portal-sos") if d["kind"] == "SecretStore"]
    values["secret"]["externalSecrets"]["secretStore"] = {
        "create": False,
        "kind": "ClusterSecretStore",
    }
    docs += [d for d in _docs(render, values, "portal-sos") if d["kind"] == "ExternalSecret"]
    validate_crds([d for d in docs if d["apiVersion"].startswith(("keda.sh", "external-secrets"))])


def test_the_crd_check_refuses_unknown_fields_and_wrong_types(
    rendered: dict[str, Rendered],
) -> None:
    docs = rendered["sos"].docs
    scaled = copy.deepcopy(one(docs, "ScaledObject"))
    scaled["spec"]["minReplicas"] = 2  # the HPA's name, not KEDA's
    external = copy.deepcopy(one(docs, "ExternalSecret"))
    external["spec"]["refreshInterval"] = 3600
    store = copy.deepcopy(one(docs, "SecretStore"))
    store["spec"]["provider"]["aws"]["auth"] = {"podIdentity": {}}
    errors = crd_errors([scaled, external, store])
    assert errors[0] == ['/spec: unknown field "minReplicas"']
    assert errors[1] == ['/spec/refreshInterval: type {"type":"string"}']
    assert errors[2] == ['/spec/provider/aws/auth: unknown field "podIdentity"']


def test_the_values_refuse_a_secret_source_without_its_secret(helm: Any, render: Any) -> None:
    from tests.ops.test_chart_schema import schema_error

    message = schema_error(helm, {"secret": {"source": "existing"}})
    assert "existingSecret" in message
    assert "/secret/source" in schema_error(helm, {"secret": {"source": "vault"}})
    # External Secrets without a key to read: the render says which values to set.
    values = {**module_values("sos"), "secret": {"source": "externalSecrets"}}
    with pytest.raises(helm.HelmError, match=r"secret\.externalSecrets\.remoteKey"):
        render(values, "portal-sos")
