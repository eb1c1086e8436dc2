"""ops/kubernetes_orchestration/cluster.yaml, the eksctl ClusterConfig the chart is installed on.

No schema of eksctl's can be had from a package registry here (eksctl ships as a Go binary),
so these are structural checks of what the chart relies on, against the chart itself."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.ops.support import MANIFESTS, Doc, Rendered, one

pytestmark = pytest.mark.nodb

CLUSTER = MANIFESTS / "cluster.yaml"


@pytest.fixture(scope="module")
def cluster() -> Doc:
    return yaml.safe_load(CLUSTER.read_text())


def _association(cluster: Doc, namespace: str, account: str) -> Doc:
    found = [
        a
        for a in cluster["iam"]["podIdentityAssociations"]
        if (a["namespace"], a["serviceAccountName"]) == (namespace, account)
    ]
    assert len(found) == 1, f"{namespace}/{account}: {len(found)} associations"
    return found[0]


def _actions(association: Doc) -> set[str]:
    actions: set[str] = set()
    for statement in association["permissionPolicy"]["Statement"]:
        assert statement["Effect"] == "Allow"
        value: Any = statement["Action"]
        actions |= {value} if isinstance(value, str) else set(value)
    return actions


def test_the_cluster_runs_kubernetes_1_33_in_three_zones(cluster: Doc) -> None:
    assert (cluster["apiVersion"], cluster["kind"]) == ("eksctl.io/v1alpha5", "ClusterConfig")
    assert cluster["metadata"]["version"] == "1.33"
    region = cluster["metadata"]["region"]
    zones = cluster["availabilityZones"]
    assert len(set(zones)) == 3
    assert all(zone.startswith(region) for zone in zones)
    (group,) = cluster["managedNodeGroups"]
    assert set(group["availabilityZones"]) == set(zones)
    # One node per zone at least: the web pods spread over zones (3 replicas, maxSkew 1).
    assert group["minSize"] >= 3
    assert group["minSize"] <= group["desiredCapacity"] <= group["maxSize"]
    assert group["privateNetworking"] is True
    assert group["disableIMDSv1"] is True
    assert group["volumeEncrypted"] is True


def test_the_cluster_has_the_add_ons_the_chart_needs(cluster: Doc) -> None:
    addons = {a["name"]: a for a in cluster["addons"]}
    assert {"eks-pod-identity-agent", "vpc-cni", "coredns", "kube-proxy", "metrics-server"} <= set(
        addons
    )
    # The chart's NetworkPolicies are enforced by the VPC CNI only when asked.
    assert yaml.safe_load(addons["vpc-cni"]["configurationValues"]) == {
        "enableNetworkPolicy": "true"
    }


def test_every_module_gets_the_aws_identity_it_needs_and_no_more(
    cluster: Doc, rendered: dict[str, Rendered]
) -> None:
    sos = _association(cluster, "portal", "portal-sos")
    assert {"ses:SendEmail", "ses:SendRawEmail", "sns:Publish"} == _actions(sos)
    faces = _association(cluster, "portal", "portal-faces")
    assert _actions(faces) == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"}
    for statement in faces["permissionPolicy"]["Statement"]:
        assert statement["Resource"].startswith("arn:aws:s3:::portal-production-media-")
    accounts = {a["serviceAccountName"] for a in cluster["iam"]["podIdentityAssociations"]}
    assert "portal-netprobe" not in accounts  # NetProbe calls no AWS API
    # The chart's ServiceAccounts are the associated ones, and name the same roles.
    everything = _association(cluster, "portal", "portal")
    assert _actions(everything) == _actions(sos) | _actions(faces)
    for module, association in (("sos", sos), ("faces", faces), ("all", everything)):
        release = rendered[module]
        account = one(release.docs, "ServiceAccount")
        assert account["metadata"]["name"] == association["serviceAccountName"]
        assert account["metadata"]["namespace"] == association["namespace"]
        role = release_role(release)
        assert role.endswith(f":role/{association['roleName']}")


def release_role(release: Rendered) -> str:
    annotations = one(release.docs, "ServiceAccount")["metadata"]["annotations"]
    (role,) = [v for k, v in annotations.items() if k.endswith("pod-identity-role-arn")]
    return role


def test_the_controllers_have_their_identities(cluster: Doc, rendered: dict[str, Rendered]) -> None:
    lbc = _association(cluster, "kube-system", "aws-load-balancer-controller")
    assert lbc["wellKnownPolicies"] == {"awsLoadBalancerController": True}
    eso = _association(cluster, "external-secrets", "external-secrets")
    assert _actions(eso) == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
    (statement,) = eso["permissionPolicy"]["Statement"]
    # Only the portal's secrets, and every key the chart's ExternalSecrets ask for.
    prefix = statement["Resource"].split(":secret:", 1)[1].removesuffix("*")
    for release in rendered.values():
        for source in one(release.docs, "ExternalSecret")["spec"]["dataFrom"]:
            assert source["extract"]["key"].startswith(prefix)
