"""The chart on a real EKS cluster: ordinary resources and one migration hook, the ALB (or a
Gateway API route) as the entry, AWS identities per module, a NetworkPolicy that lets the pods
reach the Pod Identity agent but not the instance metadata service, extra env and volumes."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
import yaml

from tests.ops.crds import validate_crds
from tests.ops.support import (
    CHART,
    KUBERNETES_VERSIONS,
    MANIFESTS,
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

POD_IDENTITY_AGENT = "169.254.170.23"
INSTANCE_METADATA = "169.254.169.254"
HOOK = "helm.sh/hook"


def merged(base: Doc, override: Doc) -> Doc:
    """base with override merged in, maps key by key (as Helm merges values files)."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def render_docs(render: Any, values: Doc, release: str) -> list[Doc]:
    templates = render(values, release)
    return [
        d for path, text in templates.items() if path.endswith(".yaml") for d in load_docs(text)
    ]


def render_error(helm: Any, render: Any, values: Doc) -> str:
    with pytest.raises(helm.HelmRenderError) as excinfo:
        render(values, "portal-x")
    return str(excinfo.value)


def egress_allows(policy: Doc, address: str, port: int) -> bool:
    """Whether an egress rule of the NetworkPolicy lets a pod open address:port (TCP)."""
    ip = ipaddress.ip_address(address)
    for rule in policy["spec"].get("egress", []):
        ports = rule.get("ports")
        if ports and not any(p.get("port") == port for p in ports):
            continue
        if "to" not in rule:
            return True
        for peer in rule["to"]:
            block = peer.get("ipBlock")
            if block is None:
                continue
            cidr = ipaddress.ip_network(block["cidr"])
            if cidr.version != ip.version or ip not in cidr:
                continue
            excepted = (ipaddress.ip_network(c) for c in block.get("except", []))
            if not any(ip in net for net in excepted if net.version == ip.version):
                return True
    return False


def ingress_peers(policy: Doc) -> list[Doc]:
    return [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]


def ingress_values(class_name: str) -> Doc:
    return merged(module_values("netprobe"), {"ingress": {"className": class_name}})


def test_makes_no_configmap_serviceaccount_or_secret_a_helm_hook(
    render: Any, rendered: dict[str, Rendered]
) -> None:
    plain = {"source": "plain", "stringData": {"SECRET_KEY": "s", "DATABASE_URL": "sqlite://"}}
    dev = merged(module_values("sos"), {"secret": plain})
    releases = [(r.module, r.docs) for r in rendered.values()]
    releases.append(("sos with a plain Secret", render_docs(render, dev, "portal-sos")))
    for name, docs in releases:
        # A plain Secret is the exception (test_creates_a_plain_secret_just_before_the_job).
        kinds = ("ConfigMap", "ServiceAccount") + (() if "plain" in name else ("Secret",))
        checked = [d for d in docs if d["kind"] in kinds]
        assert {d["kind"] for d in checked} >= {"ConfigMap", "ServiceAccount"}, name
        for doc in checked:
            annotations = doc["metadata"].get("annotations") or {}
            assert not any(k.startswith("helm.sh/") for k in annotations), f"{name}: {doc['kind']}"


def test_creates_a_plain_secret_just_before_the_migration_job(render: Any) -> None:
    plain = {"source": "plain", "stringData": {"SECRET_KEY": "s", "DATABASE_URL": "sqlite://"}}
    docs = render_docs(render, merged(module_values("sos"), {"secret": plain}), "portal-sos")
    secret = one(docs, "Secret", "portal-sos")
    job = one(docs, "Job", "portal-sos-migrate")
    (container,) = pod_spec(job)["containers"]
    assert {"secretRef": {"name": "portal-sos"}} in container["envFrom"]
    # On a first install no release resource exists before the pre-install Job: the Secret it
    # reads is a hook too, with a lower weight, so Helm creates it first.
    annotations = secret["metadata"]["annotations"]
    job_annotations = job["metadata"]["annotations"]
    assert set(annotations[HOOK].split(",")) >= set(job_annotations[HOOK].split(","))
    assert "pre-rollback" in annotations[HOOK]  # a rollback brings back that revision's values
    assert int(annotations["helm.sh/hook-weight"]) < int(job_annotations["helm.sh/hook-weight"])
    # It outlives the hook phase (the pods read it): replaced only when the next hook comes.
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation"
    assert secret["stringData"] == plain["stringData"]


def test_keeps_the_migration_job_as_the_only_hook(rendered: dict[str, Rendered]) -> None:
    for module, release in rendered.items():
        hooks = {
            (d["kind"], d["metadata"]["annotations"][HOOK])
            for d in release.docs
            if HOOK in (d["metadata"].get("annotations") or {})
        }
        assert hooks == {("Job", "pre-install,pre-upgrade"), ("Pod", "test")}, module


def test_gives_the_migration_job_the_release_settings_without_the_configmap(
    rendered: dict[str, Rendered],
) -> None:
    for module, release in rendered.items():
        job = one(release.docs, "Job", f"{release.release}-migrate")
        (container,) = pod_spec(job)["containers"]
        # On upgrade the ConfigMap still holds the previous settings when the hook runs; on
        # install it does not exist yet. The Job carries the new ones itself.
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env == one(release.docs, "ConfigMap", release.release)["data"], module
        assert [list(ref) for ref in container["envFrom"]] == [["secretRef"]], module
        # The release's ServiceAccount does not exist before a pre-install hook either.
        assert pod_spec(job)["serviceAccountName"] == "default"
        assert pod_spec(job)["automountServiceAccountToken"] is False


def test_rolls_the_web_and_worker_pods_when_a_setting_changes(render: Any) -> None:
    def checksums(values: Doc) -> dict[str, str]:
        docs = render_docs(render, values, "portal")
        return {
            d["metadata"]["name"]: d["spec"]["template"]["metadata"]["annotations"][
                "checksum/config"
            ]
            for d in by_kind(docs, "Deployment")
        }

    before = checksums(module_values("all"))
    after = checksums(merged(module_values("all"), {"config": {"logLevel": "debug"}}))
    assert set(before) == {"portal", "portal-worker"}
    assert all(before[name] != after[name] for name in before)


def test_sends_the_default_ingress_through_an_alb_not_nginx(
    render: Any, rendered: dict[str, Rendered]
) -> None:
    values = module_values("all")
    # The chart's own defaults for the class and the ALB, not the example's.
    values["ingress"] = {
        k: v for k, v in values["ingress"].items() if k not in ("className", "alb")
    }
    defaults = one(render_docs(render, values, "portal"), "Ingress")
    modules = [one(r.docs, "Ingress") for r in rendered.values()]
    for ingress in (defaults, *modules):
        assert ingress["spec"]["ingressClassName"] == "alb"
        annotations = ingress["metadata"]["annotations"]
        assert not any("nginx" in key for key in annotations)
        assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
        assert annotations["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
        assert (
            annotations["alb.ingress.kubernetes.io/listen-ports"]
            == '[{"HTTP": 80}, {"HTTPS": 443}]'
        )
        assert annotations["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
        assert annotations["alb.ingress.kubernetes.io/healthcheck-path"] == "/healthz"
        assert annotations["alb.ingress.kubernetes.io/group.name"] == "portal"
    for ingress in modules:
        arn = ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/certificate-arn"]
        assert arn.startswith("arn:aws:acm:")


def test_lets_web_pods_answer_the_alb_health_checks_on_their_own_ip(
    rendered: dict[str, Rendered],
) -> None:
    for module, release in rendered.items():
        web = one(release.docs, "Deployment", release.release)
        env = {e["name"]: e for e in pod_spec(web)["containers"][0]["env"]}
        assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
        hosts = one(release.docs, "ConfigMap", release.release)["data"]["ALLOWED_HOSTS"]
        # POD_IP is defined first, so Kubernetes expands $(POD_IP) in the later entry.
        assert list(env).index("POD_IP") < list(env).index("ALLOWED_HOSTS"), module
        assert env["ALLOWED_HOSTS"]["value"] == f"{hosts},$(POD_IP)"


def test_admits_only_the_chosen_entry_in_the_network_policy(render: Any) -> None:
    alb = one(render_docs(render, ingress_values("alb"), "portal-netprobe"), "NetworkPolicy")
    nginx = one(render_docs(render, ingress_values("nginx"), "portal-netprobe"), "NetworkPolicy")
    # target-type ip: the ALB reaches the pods from its VPC addresses, not from controller pods.
    assert {"ipBlock": {"cidr": "10.1.0.0/16"}} in ingress_peers(alb)
    assert not any("namespaceSelector" in p for p in ingress_peers(alb))
    assert not any("ipBlock" in p for p in ingress_peers(nginx))
    namespaces = [
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for p in ingress_peers(nginx)
        if "namespaceSelector" in p
    ]
    assert namespaces == ["ingress-nginx"]


def test_refuses_an_alb_ingress_without_the_cidrs_it_reaches_pods_from(
    helm: Any, render: Any
) -> None:
    values = merged(ingress_values("alb"), {"networkPolicy": {"loadBalancerCidrs": []}})
    assert "networkPolicy.loadBalancerCidrs" in render_error(helm, render, values)


GATEWAY = {"name": "portal", "namespace": "gateway-system", "sectionName": "https"}
GATEWAY_PEER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "envoy"}}}


def test_renders_a_valid_gateway_api_httproute_when_chosen(render: Any) -> None:
    route = {
        "enabled": True,
        "parentRefs": [GATEWAY],
        "hostnames": ["sos.portal.example.com"],
        "networkPolicyFrom": [GATEWAY_PEER],
    }
    values = merged(module_values("sos"), {"ingress": {"enabled": False}, "httpRoute": route})
    docs = render_docs(render, values, "portal-sos")
    assert by_kind(docs, "Ingress") == []
    route = one(docs, "HTTPRoute", "portal-sos")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    validate_crds([route])
    assert route["spec"]["parentRefs"] == [GATEWAY]
    (rule,) = route["spec"]["rules"]
    service = one(docs, "Service", "portal-sos")
    assert rule["backendRefs"] == [
        {"name": "portal-sos", "port": service["spec"]["ports"][0]["port"]}
    ]
    data = one(docs, "ConfigMap", "portal-sos")["data"]
    assert "sos.portal.example.com" in data["ALLOWED_HOSTS"].split(",")
    assert data["CSRF_TRUSTED_ORIGINS"] == "https://sos.portal.example.com"
    peers = ingress_peers(one(docs, "NetworkPolicy"))
    assert GATEWAY_PEER in peers
    assert not any("ipBlock" in p for p in peers)


def test_the_crd_validation_refuses_a_broken_httproute(render: Any) -> None:
    values = merged(module_values("all"), {"httpRoute": {"enabled": True, "parentRefs": [GATEWAY]}})
    route = one(render_docs(render, values, "portal"), "HTTPRoute")
    route["spec"]["rules"][0]["backendRef"] = route["spec"]["rules"][0].pop("backendRefs")
    with pytest.raises(AssertionError, match="backendRef"):
        validate_crds([route])


def test_renders_a_valid_servicemonitor_only_when_asked(
    render: Any, rendered: dict[str, Rendered]
) -> None:
    for release in rendered.values():
        assert by_kind(release.docs, "ServiceMonitor") == []
    monitor = {"enabled": True, "labels": {"release": "kube-prometheus-stack"}}
    values = merged(module_values("all"), {"serviceMonitor": monitor})
    docs = render_docs(render, values, "portal")
    monitor = one(docs, "ServiceMonitor", "portal")
    validate_crds([monitor])
    service = one(docs, "Service", "portal")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def _identity(docs: list[Doc], name: str) -> str:
    annotations = one(docs, "ServiceAccount", name)["metadata"].get("annotations") or {}
    return annotations.get("portal.example.com/pod-identity-role-arn") or annotations.get(
        "eks.amazonaws.com/role-arn", ""
    )


def test_gives_sos_and_faces_an_aws_identity_and_netprobe_none(
    rendered: dict[str, Rendered],
) -> None:
    identities = {m: _identity(r.docs, r.release) for m, r in rendered.items()}
    assert identities["sos"].startswith("arn:aws:iam::")
    assert identities["faces"].startswith("arn:aws:iam::")
    assert identities["all"].startswith("arn:aws:iam::")
    assert identities["netprobe"] == ""
    assert len(set(identities.values())) == 4, "one role per module"
    # The SDK finds its region for SES and SNS.
    assert one(rendered["sos"].docs, "ConfigMap", "portal-sos")["data"]["AWS_REGION"]


def test_offers_irsa_as_the_alternative_but_not_both(helm: Any, render: Any) -> None:
    role = "arn:aws:iam::123456789012:role/portal-eks-sos"
    irsa = merged(
        module_values("sos"),
        {
            "aws": {"podIdentity": {"roleArn": ""}},
            "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": role}},
        },
    )
    account = one(render_docs(render, irsa, "portal-sos"), "ServiceAccount", "portal-sos")
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role}
    both = merged(irsa, {"aws": {"podIdentity": {"roleArn": role}}})
    assert "not both" in render_error(helm, render, both)


def test_lets_pods_reach_the_pod_identity_agent_but_not_the_metadata_service(
    render: Any, rendered: dict[str, Rendered], raw_docs: list[Doc]
) -> None:
    policies = {m: one(r.docs, "NetworkPolicy") for m, r in rendered.items()}
    policies["raw"] = one(raw_docs, "NetworkPolicy")
    for where, policy in policies.items():
        assert egress_allows(policy, POD_IDENTITY_AGENT, 80), where
        assert egress_allows(policy, "fd00:ec2::23", 80), where
        assert not egress_allows(policy, POD_IDENTITY_AGENT, 443), where
        for address in (INSTANCE_METADATA, "fd00:ec2::254"):
            for port in (80, 443):
                assert not egress_allows(policy, address, port), f"{where}: {address}:{port}"
        assert egress_allows(policy, "93.184.215.14", 443), where  # the internet stays open
    # The evaluator is real: with the agent rule switched off, the agent is blocked too.
    values = merged(module_values("sos"), {"networkPolicy": {"podIdentityAgent": False}})
    closed = one(render_docs(render, values, "portal-sos"), "NetworkPolicy")
    assert not egress_allows(closed, POD_IDENTITY_AGENT, 80)


EXTRA_ENV = {"name": "REQUESTS_CA_BUNDLE", "value": "/etc/ssl/corporate/ca.pem"}
EXTRA_VOLUME = {"name": "corporate-ca", "configMap": {"name": "corporate-ca"}}
EXTRA_MOUNT = {"name": "corporate-ca", "mountPath": "/etc/ssl/corporate", "readOnly": True}


def test_adds_extra_env_and_volumes_to_every_portal_container(render: Any) -> None:
    extras = {
        "extraEnv": [EXTRA_ENV],
        "extraVolumes": [EXTRA_VOLUME],
        "extraVolumeMounts": [EXTRA_MOUNT],
    }
    values = merged(module_values("all"), extras)
    docs = render_docs(render, values, "portal")
    pods = [d for d in workloads(docs) if d["kind"] != "Pod"]  # not the `helm test` pod
    components = {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in pods}
    assert {"web", "worker", "monitors", "prune", "migrate"} <= components
    for doc in pods:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        assert EXTRA_VOLUME in pod_spec(doc)["volumes"], where
        for container in all_containers(doc):
            assert container["env"][-1] == EXTRA_ENV, where  # last: it wins
            assert EXTRA_MOUNT in container["volumeMounts"], where
        for version in KUBERNETES_VERSIONS:
            validate_strict(doc, version)


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"ingress": {"alb": {"scheme": "public"}}}, "/ingress/alb/scheme"),
        ({"ingress": {"alb": {"certificateArn": "my-cert"}}}, "/ingress/alb/certificateArn"),
        ({"aws": {"podIdentity": {"roleArn": "portal-eks-sos"}}}, "/aws/podIdentity/roleArn"),
        ({"networkPolicy": {"loadBalancerCidrs": ["the VPC"]}}, "/networkPolicy/loadBalancerCidrs"),
        ({"httpRoute": {"enabled": True}}, "/httpRoute/parentRefs"),
        ({"extraVolumeMounts": [{"name": "ca"}]}, "/extraVolumeMounts/0"),
    ],
)
def test_refuses_malformed_entry_and_identity_values(helm: Any, values: Doc, where: str) -> None:
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmValuesError) as excinfo:
        chart.validate_schema(values)
    assert where in str(excinfo.value)


def test_matches_each_release_role_with_a_pod_identity_association_of_the_cluster(
    rendered: dict[str, Rendered],
) -> None:
    cluster = yaml.safe_load((MANIFESTS / "cluster.yaml").read_text())
    associations = {
        (a["namespace"], a["serviceAccountName"]): a["roleName"]
        for a in cluster["iam"]["podIdentityAssociations"]
    }
    for module, release in rendered.items():
        account = one(release.docs, "ServiceAccount")["metadata"]
        role_arn = _identity(release.docs, account["name"])
        association = associations.get((account["namespace"], account["name"]))
        if module == "netprobe":
            assert (role_arn, association) == ("", None), "NetProbe calls no AWS API"
        else:
            assert association is not None, f"{module}: no association for {account['name']}"
            assert role_arn.rpartition(":role/")[2] == association, module
