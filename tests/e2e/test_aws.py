"""Clusters on the AWS driver, end to end through the API and real worker processes, against
moto_server behind our wrapper (IAM authentication on), with image builds over real SSH (Debian's
sshd standing in for the builder VM) and the clusters' Kubernetes APIs served by the local cloud's
emulator (the account says `"kubernetes": "emulated"`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from api_support import LOCAL_PROFILE, cluster_request
from aws_support import aws_account
from kubernetes import client as k8s
from test_addons import kube

from helpers import wait_until
from strata_aws.driver import AwsCloud

ZONES = ["us-east-1a", "us-east-1b"]
POOLS = [
    {"name": "cp", "role": "controlPlane", "count": 3, "instanceType": "m5.xlarge", "zones": ZONES},
    {"name": "workers", "role": "worker", "count": 2, "instanceType": "t3.large", "zones": ZONES},
]
SMALL = [
    {"name": "cp", "role": "controlPlane", "count": 1, "instanceType": "m5.xlarge", "zones": ZONES[:1]},
    {"name": "workers", "role": "worker", "count": 1, "instanceType": "t3.large", "zones": ZONES[:1]},
]
NODES_ONLY = {"name": "nodes", "layers": LOCAL_PROFILE["layers"][:2]}  # OS and Kubernetes: the nodes are the point
VCPU_MESSAGE = (
    "You have requested more vCPU capacity than your current vCPU limit of 8 allows for the instance bucket that "
    "the specified instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to request "
    "an adjustment to this limit."
)


def owned(moto, cluster_id: str) -> list:
    return AwsCloud(moto.session(), ["us-east-1"], moto.url).list_owned({"strata:cluster": cluster_id})


def create(op, account: str, profile: dict, pools: list[dict], name: str = "shop", region: str = "us-east-1") -> str:
    profile_id = op.post("/v1/profiles", {**profile, "name": f"{profile['name']}-{name}"}).json()["id"]
    body = cluster_request(profile_id, account, name=name, cloud={"region": region}, pools=pools)
    response = op.post("/v1/clusters", body)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def wait_phase(op, cluster_id: str, phase: str = "Running", timeout: float = 240) -> dict:
    def reached():
        body = op.get(f"/v1/clusters/{cluster_id}").json()
        return body if body["phase"] == phase else None

    try:
        return wait_until(reached, timeout=timeout, interval=0.3, message=f"phase {phase}")
    except pytest.fail.Exception:
        failing = [c for c in op.get(f"/v1/clusters/{cluster_id}").json()["conditions"] if c["status"] != "True"]
        pytest.fail(f"no phase {phase} after {timeout}s: {failing}")


def delete_and_wait(op, cluster_id: str, requested: bool = False) -> None:
    if not requested:
        assert op.delete(f"/v1/clusters/{cluster_id}").status_code == 202
    try:
        wait_until(lambda: op.get(f"/v1/clusters/{cluster_id}").status_code == 404, timeout=120, message="deleted")
    except pytest.fail.Exception:
        steps = op.get(f"/v1/clusters/{cluster_id}/steps").json()["items"]
        pytest.fail(f"not deleted: {[s for s in steps if s['status'] != 'succeeded']}")


def test_a_cluster_on_aws_runs_its_addons_on_isolated_nodes_and_delete_leaves_nothing(clients, fleet_env, aws, moto,
                                                                                      sshd):  # fmt: skip
    op = clients["operator"]
    cluster_id = create(op, aws, LOCAL_PROFILE, POOLS)
    running = wait_phase(op, cluster_id)
    assert {c["status"] for c in running["conditions"]} == {"True"}

    ec2, elb = moto.client("ec2"), moto.client("elbv2")
    mine = [{"Name": "tag:strata:cluster", "Values": [cluster_id]}]
    instances = [i for r in ec2.describe_instances(Filters=[*mine, {"Name": "instance-state-name",
                                                                    "Values": ["running"]}])["Reservations"]
                 for i in r["Instances"]]  # fmt: skip
    tags = [{t["Key"]: t["Value"] for t in i["Tags"]} for i in instances]
    assert Counter(
        (t["strata:pool"], i["Placement"]["AvailabilityZone"]) for t, i in zip(tags, instances, strict=True)
    ) == {
        ("cp", "us-east-1a"): 2,
        ("cp", "us-east-1b"): 1,
        ("workers", "us-east-1a"): 1,
        ("workers", "us-east-1b"): 1,
    }
    subnets = {s["SubnetId"]: s for s in ec2.describe_subnets(Filters=mine)["Subnets"]}
    groups = {g["GroupId"]: g for g in ec2.describe_security_groups(Filters=mine)["SecurityGroups"]}
    role_of = {gid: {t["Key"]: t["Value"] for t in g["Tags"]}["strata:role"] for gid, g in groups.items()}
    for t, i in zip(
        tags, instances, strict=True
    ):  # each node in its role's subnet of its zone, and in its role's group only
        subnet_tags = {x["Key"]: x["Value"] for x in subnets[i["SubnetId"]]["Tags"]}
        assert subnet_tags["strata:role"] == t["strata:role"]
        assert subnets[i["SubnetId"]]["AvailabilityZone"] == i["Placement"]["AvailabilityZone"]
        assert [role_of[g["GroupId"]] for g in i["SecurityGroups"]] == [t["strata:role"]]
    by_role = {role: gid for gid, role in role_of.items()}
    for port in (2379, 10250, 10257, 10259):  # control-plane-only ports: reachable from control-plane nodes only
        rule = next(p for p in groups[by_role["control-plane"]]["IpPermissions"] if p["FromPort"] == port)
        assert [p["GroupId"] for p in rule["UserIdGroupPairs"]] == [by_role["control-plane"]] and not rule["IpRanges"]
    public = {(role_of[gid], p["FromPort"], p["ToPort"]) for gid, g in groups.items() for p in g["IpPermissions"]
              for r in p["IpRanges"] if r["CidrIp"] == "0.0.0.0/0"}  # fmt: skip
    assert public == {("load-balancer", 6443, 6443)}  # nothing but the API open to the world, on the balancer

    balancer = next(r for r in owned(moto, cluster_id) if r.kind == "load_balancer")
    control_plane = sorted(
        i["InstanceId"] for t, i in zip(tags, instances, strict=True) if t["strata:role"] == "control-plane"
    )
    assert balancer.spec["targets"] == control_plane
    assert elb.describe_load_balancers(LoadBalancerArns=[balancer.id])["LoadBalancers"][0]["Type"] == "network"

    api = kube(op, cluster_id)  # the emulator serves the cluster, found through the AWS driver
    nodes = k8s.CoreV1Api(api).list_node().items
    assert len(nodes) == 5 and all(n.spec.provider_id.startswith("aws:///us-east-1") for n in nodes)
    assert k8s.AppsV1Api(api).read_namespaced_daemon_set("calico-node", "kube-system").status.number_ready == 5
    assert k8s.AppsV1Api(api).read_namespaced_deployment("prometheus", "monitoring").status.available_replicas

    events = op.get(f"/v1/clusters/{cluster_id}/events", params={"limit": 1000}).json()["items"]
    built = next(e for e in events if e["reason"] in ("ImageBuilt", "ImageFound") or e["reason"] == "ImageCopy")
    assert built  # built here over SSH, or found by its signature when another test built it first
    roots = list(Path(sshd.roots).glob("i-*/etc/sysctl.d/60-cis-hardening.conf"))
    assert roots, "the CIS role ran over SSH on a builder"

    delete_and_wait(op, cluster_id)
    assert owned(moto, cluster_id) == []


def test_the_vcpu_quota_story_on_aws(clients, fleet_env, aws, moto):
    """The seed's story: the control plane does not fit the account's vCPU limit; the condition says
    so in AWS's words; once the limit is raised the cluster goes on with no user action."""
    op = clients["operator"]
    moto.refuse("RunInstances", "VcpuLimitExceeded", VCPU_MESSAGE, rate=1.0, when={"InstanceType": "m5.xlarge"})
    cluster_id = create(op, aws, NODES_ONLY, SMALL, name="quota")

    def control_plane_failing():
        body = op.get(f"/v1/clusters/{cluster_id}").json()
        condition = next((c for c in body["conditions"] if c["type"] == "ControlPlaneReady"), None)
        return (body, condition) if condition and condition["status"] == "False" else None

    body, condition = wait_until(control_plane_failing, timeout=120, message="ControlPlaneReady False")
    assert condition["reason"] == "VcpuLimitExceeded" and condition["errorClass"] == "user-fixable"
    assert condition["message"].startswith(VCPU_MESSAGE) and body["phase"] == "Provisioning"
    moto.clear_faults()  # the limit is raised
    wait_phase(op, cluster_id)
    delete_and_wait(op, cluster_id)
    assert owned(moto, cluster_id) == []


def test_wrong_credentials_are_refused_when_the_account_is_created(clients, moto, sshd):
    body = aws_account(moto, sshd, ["us-east-1"])
    body["credentials"] = {"accessKeyId": moto.access_key, "secretAccessKey": "not-the-secret-0123456789"}
    refused = clients["operator"].post("/v1/cloudaccounts", {"name": "wrong", **body})
    assert refused.status_code == 422, refused.text
    assert list(refused.json()["error"]["fields"]) == ["credentials"]
    assert "not-the-secret" not in refused.text
    assert clients["operator"].get("/v1/cloudaccounts").json()["items"] == []
