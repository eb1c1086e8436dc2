"""ops/kubernetes_orchestration/cluster.yaml, the eksctl ClusterConfig the chart is installed on.

No schema of eksctl's can be had from a package registry here (eksctl ships as a Go binary),
so these are structural checks of what the chart relies on, against the chart itself."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
import yaml

from ops.aws.stacks import STACKS_FILE, load_template, plan
from tests.ops.support import MANIFESTS, Doc, Rendered, by_kind, one

pytestmark = pytest.mark.nodb

CLUSTER = MANIFESTS / "cluster.yaml"
AWS = STACKS_FILE.parent
# The stage the cluster serves (metadata.name portal-production) and that the values files name.
STAGE = "production"
# The faces gallery's KMS key: named by alias in a condition (its ARN holds a random id).
FACES_KEYS = "arn:aws:kms:us-east-1:123456789012:key/*"


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
    # The pods' AWS identity is their Pod Identity association, never the node's role.
    assert group["disablePodIMDS"] is True
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
    assert _actions(faces) == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ListBucket",
        "kms:GenerateDataKey",
        "kms:Decrypt",
    }
    for statement in faces["permissionPolicy"]["Statement"]:
        if statement["Resource"].startswith("arn:aws:kms:"):  # the gallery key, by its alias
            assert statement["Condition"] == {
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/portal-faces-production"}
            }
        else:
            assert statement["Resource"].startswith("arn:aws:s3:::portal-media-production")
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


def _stage_parameters(concern: str) -> dict[str, str]:
    (stack,) = [s for s in plan(STAGE) if s.concern == concern]
    return stack.parameters


def _resources(cluster: Doc, account: str) -> set[str]:
    association = _association(cluster, "portal", account)
    found: set[str] = set()
    for statement in association["permissionPolicy"]["Statement"]:
        value: Any = statement["Resource"]
        found |= {value} if isinstance(value, str) else set(value)
    return found


def _cidrs(peers: list[Doc]) -> set[str]:
    return {p["ipBlock"]["cidr"] for p in peers if "ipBlock" in p}


def test_the_chart_lets_in_the_alb_of_the_cluster_vpc_and_out_to_the_stage_database(
    cluster: Doc, rendered: dict[str, Rendered]
) -> None:
    network = load_template(AWS / "network.yaml")["Mappings"]["Cidrs"]
    vpc = ipaddress.ip_network(cluster["vpc"]["cidr"])
    # Peered VPCs must not overlap; the comment in cluster.yaml names the stage's range.
    for stage in network.values():
        assert not vpc.overlaps(ipaddress.ip_network(stage["Vpc"]))
    assert network[STAGE]["Vpc"] in CLUSTER.read_text()
    database = {network[STAGE]["PrivateA"], network[STAGE]["PrivateB"]}
    for module, release in rendered.items():
        spec = one(release.docs, "NetworkPolicy")["spec"]
        # The ALB (ingress.className alb, target-type ip) is in the cluster's VPC.
        alb = _cidrs([peer for rule in spec["ingress"] for peer in rule["from"]])
        assert alb == {str(vpc)}, module
        postgres = [r for r in spec["egress"] if {p["port"] for p in r.get("ports", [])} == {5432}]
        assert {c for r in postgres for c in _cidrs(r["to"])} == database, module
    manifests = yaml.safe_load((MANIFESTS / "networkpolicy.yaml").read_text())["spec"]
    assert {str(vpc)} == _cidrs([p for rule in manifests["ingress"] for p in rule["from"]])


def test_the_faces_role_names_the_media_bucket_the_storage_stack_creates(cluster: Doc) -> None:
    storage = load_template(AWS / "storage.yaml")
    bucket = storage["Outputs"]["MediaBucketName"]["Value"]["Ref"]
    _, _, unsuffixed = storage["Resources"][bucket]["Properties"]["BucketName"]["Fn::If"]
    name = unsuffixed["Fn::Sub"].replace("${Stage}", STAGE)
    # Without BucketNameSuffix (stacks.yaml passes none); with one, the role needs it too.
    assert "BucketNameSuffix" not in _stage_parameters("storage")
    expected = {f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"}
    assert _resources(cluster, "portal-faces") - {FACES_KEYS} == expected
    assert _resources(cluster, "portal") >= expected


def test_the_sos_role_sends_from_the_ses_identity_the_messaging_stack_creates(
    cluster: Doc, rendered: dict[str, Rendered]
) -> None:
    domain = _stage_parameters("messaging")["SenderDomain"]
    messaging = load_template(AWS / "messaging.yaml")
    configuration_set = messaging["Resources"]["ConfigurationSet"]["Properties"]["Name"]
    prefix = f"arn:aws:ses:{cluster['metadata']['region']}:"
    for account in ("portal-sos", "portal"):
        ses = {r for r in _resources(cluster, account) if r.startswith(prefix)}
        assert {r.split(":", 5)[5] for r in ses} == {
            f"identity/{domain}",
            "configuration-set/" + configuration_set["Fn::Sub"].replace("${Stage}", STAGE),
        }
    # The sender address the releases set is on that identity (SES refuses any other).
    senders = [
        one(release.docs, "ConfigMap", release.release)["data"].get("DEFAULT_FROM_EMAIL")
        for release in rendered.values()
        if by_kind(release.docs, "ConfigMap")
    ]
    assert any(senders)
    for sender in filter(None, senders):
        assert sender.rstrip(">").rsplit("@", 1)[1] == domain
