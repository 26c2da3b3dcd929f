"""A cluster on the local cloud, through the API and real provisioner and beat processes: it reaches
Running, survives quotas and throttling, and its delete leaves nothing behind."""

from __future__ import annotations

import base64
from collections import Counter

import psycopg
import pytest
import yaml
from api_support import LOCAL_PROFILE, cluster_request
from cryptography import x509
from psycopg.rows import dict_row

from helpers import wait_until


@pytest.fixture
def fleet(clients, fleet_env):
    """A running fleet (the module's, or the test's own when it changes the cloud's quotas, throttling or
    faults); a profile and an account in the test's project."""
    op = clients["operator"]
    profile = op.post("/v1/profiles", LOCAL_PROFILE).json()
    account = op.post("/v1/cloudaccounts", {"name": "lab", "cloud": "local"}).json()
    return {"profile": profile["id"], "account": account["id"]}


def cloud_rows(database_url: str, cluster_id: str) -> list[dict]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT * FROM lc_resources WHERE tags->>'strata:cluster' = %s AND deleted_at IS NULL", (cluster_id,)
        ).fetchall()


def wait_phase(client, cluster_id: str, phase: str, timeout: float = 120) -> dict:
    def reached():
        body = client.get(f"/v1/clusters/{cluster_id}").json()
        return body if body.get("phase") == phase else None

    return wait_until(reached, timeout=timeout, interval=0.3, message=f"phase {phase}")


def test_cluster_reaches_running_with_nodes_spread_and_roles_isolated(clients, fleet, database_url):
    op = clients["operator"]
    zones = ["local-1a", "local-1b", "local-1c"]
    pools = [
        {"name": "cp", "role": "controlPlane", "count": 3, "instanceType": "medium", "zones": zones},
        {"name": "general", "role": "worker", "count": 6, "instanceType": "large", "zones": zones},
        {"name": "batch", "role": "worker", "count": 2, "instanceType": "medium", "zones": zones[1:]},
    ]
    cluster = op.post("/v1/clusters", cluster_request(fleet["profile"], fleet["account"], pools=pools)).json()
    running = wait_phase(op, cluster["id"], "Running")
    milestones = ("ImageReady", "InfrastructureReady", "ControlPlaneReady", "WorkersReady", "NetworkingReady",
                  "StorageReady", "AddonsReady", "Scanned", "Ready")  # fmt: skip
    assert {c["type"]: c["status"] for c in running["conditions"]} == dict.fromkeys(milestones, "True")

    rows = cloud_rows(database_url, cluster["id"])
    instances = [r for r in rows if r["kind"] == "instance"]
    assert len(instances) == 11
    spread = Counter((r["tags"]["strata:pool"], r["zone"]) for r in instances)
    assert spread == {("cp", "local-1a"): 1, ("cp", "local-1b"): 1, ("cp", "local-1c"): 1,
                      ("general", "local-1a"): 2, ("general", "local-1b"): 2, ("general", "local-1c"): 2,
                      ("batch", "local-1b"): 1, ("batch", "local-1c"): 1}  # fmt: skip
    groups = {r["spec"]["name"]: r["spec"]["rules"] for r in rows if r["kind"] == "security_group"}
    ids = {r["spec"]["name"]: r["id"] for r in rows if r["kind"] == "security_group"}
    private = ("2379-2380", "10250", "10257", "10259")  # etcd, kubelet, controller manager, scheduler
    sources = {rule["ports"]: rule["from"] for rule in groups["control-plane"] if rule["ports"] in private}
    assert sources == {ports: [ids["control-plane"]] for ports in private}  # from control-plane nodes only
    assert all(ids["workers"] not in rule["from"] for rule in groups["workers"] if rule["ports"] == "10250")
    public = [(name, rule["ports"]) for name, rules in groups.items() for rule in rules if "0.0.0.0/0" in rule["cidrs"]]
    assert public == [("load-balancer", "6443")]  # nothing but the API open to the world, on the balancer
    assert {r["kind"] for r in rows} >= {"network", "subnet", "security_group", "load_balancer", "instance"}

    config = yaml.safe_load(op.get(f"/v1/clusters/{cluster['id']}/kubeconfig").json()["kubeconfig"])
    ca = x509.load_pem_x509_certificate(
        base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"])
    )
    client = x509.load_pem_x509_certificate(base64.b64decode(config["users"][0]["user"]["client-certificate-data"]))
    client.verify_directly_issued_by(ca)  # the admin certificate chains to the cluster CA
    assert ca.subject == ca.issuer and ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server = config["clusters"][0]["cluster"]  # the local cloud's API, reached by the load balancer's name
    assert server["server"].endswith(f"/clusters/{cluster['id']}")
    assert clients["viewer"].get(f"/v1/clusters/{cluster['id']}/kubeconfig").status_code == 403

    by_node = {r["tags"]["strata:node"]: r["spec"]["userData"] for r in instances}
    init = list(yaml.safe_load_all(yaml.safe_load(by_node["ensure_node/cp-0"].removeprefix("#cloud-config\n"))
                                   ["write_files"][0]["content"]))  # fmt: skip
    assert [d["kind"] for d in init[:2]] == ["InitConfiguration", "ClusterConfiguration"]
    balancer = next(r for r in rows if r["kind"] == "load_balancer")  # kubeadm's endpoint: the balancer's name
    assert init[1]["controlPlaneEndpoint"] == f"{balancer['spec']['dnsName']}:6443"
    assert server["tls-server-name"] == balancer["spec"]["dnsName"]
    assert server["tls-server-name"].endswith(".lb.local-1.local")
    assert init[1]["kubernetesVersion"] == "v1.32.1"
    assert {"name": "anonymous-auth", "value": "false"} in init[1]["apiServer"]["extraArgs"]
    join = yaml.safe_load(by_node["ensure_node/general-0"].removeprefix("#cloud-config\n"))
    worker = next(yaml.safe_load_all(join["write_files"][0]["content"]))
    assert worker["kind"] == "JoinConfiguration" and "controlPlane" not in worker
    assert worker["discovery"]["bootstrapToken"]["caCertHashes"][0].startswith("sha256:")
    second = next(yaml.safe_load_all(yaml.safe_load(by_node["ensure_node/cp-1"].removeprefix("#cloud-config\n"))
                                     ["write_files"][0]["content"]))  # fmt: skip
    assert second["kind"] == "JoinConfiguration" and len(second["controlPlane"]["certificateKey"]) == 64
    assert all("PRIVATE KEY" not in data for data in by_node.values())  # CA keys never go into user data


@pytest.mark.own_stack  # changes the local cloud every test of the module shares
def test_quota_story_condition_false_then_running_after_the_quota_is_raised(clients, fleet, database_url):
    admin, op = clients["admin"], clients["operator"]
    # room for the image builder (2 vCPU, gone once the image is built), not for the control plane (4)
    assert admin.put("/v1/localcloud/regions/local-1/quota", {"vcpus": 2}).status_code == 200
    pools = [{"name": "cp", "role": "controlPlane", "count": 1, "instanceType": "large", "zones": ["local-1a"]},
             {"name": "w", "role": "worker", "count": 2, "instanceType": "medium", "zones": ["local-1a"]}]  # fmt: skip
    cluster = op.post("/v1/clusters", cluster_request(fleet["profile"], fleet["account"], pools=pools)).json()

    def control_plane_failing():
        body = op.get(f"/v1/clusters/{cluster['id']}").json()
        condition = next((c for c in body["conditions"] if c["type"] == "ControlPlaneReady"), None)
        return (body, condition) if condition and condition["status"] == "False" else None

    body, condition = wait_until(control_plane_failing, timeout=180, message="ControlPlaneReady False")
    assert condition["title"] == "Adding Control Plane Node"
    assert condition["reason"] == "VcpuLimitExceeded" and condition["errorClass"] == "user-fixable"
    assert "current vCPU limit of 2" in condition["message"]
    assert body["phase"] == "Provisioning"  # not an error state: it keeps trying

    def failed_attempts():
        events = op.get(f"/v1/clusters/{cluster['id']}/events", params={"limit": 1000}).json()["items"]
        attempts = [e for e in events if e["reason"] == "VcpuLimitExceeded"]
        return attempts if len(attempts) >= 2 else None

    attempts = wait_until(failed_attempts, timeout=60, message="two failed attempts in the event stream")
    assert [e["data"]["attempt"] for e in attempts[:2]] == [1, 2]
    assert admin.put("/v1/localcloud/regions/local-1/quota", {"vcpus": 64}).status_code == 200
    wait_phase(op, cluster["id"], "Running")


@pytest.mark.own_stack  # changes the local cloud every test of the module shares
def test_throttling_on_every_action_still_reaches_running(clients, fleet):
    admin, op = clients["admin"], clients["operator"]
    for action in ("RunInstances", "DescribeInstances"):  # the cloud's own buckets, nearly empty
        assert admin.put(f"/v1/localcloud/throttling/{action}", {"rate": 1, "burst": 1}).status_code == 200
    for action in ("CreateNetwork", "CreateSecurityGroup", "CreateLoadBalancer", "RunInstances", "ListOwned"):
        fault = {"action": action, "code": "RequestLimitExceeded", "message": "Request limit exceeded.", "count": 2}
        assert admin.post("/v1/localcloud/faults", fault).status_code == 201
    cluster = op.post("/v1/clusters", cluster_request(fleet["profile"], fleet["account"])).json()
    wait_phase(op, cluster["id"], "Running")
    throttled = [e for e in op.get(f"/v1/clusters/{cluster['id']}/events", params={"limit": 1000}).json()["items"]
                 if e["reason"] == "RequestLimitExceeded"]  # fmt: skip
    assert len(throttled) >= 8
    assert admin.get("/v1/localcloud/faults").json()["items"] == [
        {"id": f["id"], "action": "ListOwned", "code": "RequestLimitExceeded", "message": "Request limit exceeded.",
         "remaining": 2} for f in admin.get("/v1/localcloud/faults").json()["items"]
    ]  # fmt: skip


@pytest.mark.own_stack  # changes the local cloud every test of the module shares
def test_delete_after_a_half_finished_create_leaves_nothing(clients, fleet, database_url):
    admin, op = clients["admin"], clients["operator"]
    admin.put("/v1/localcloud/regions/local-1/quota", {"vcpus": 4})  # the control plane fits, the workers do not
    cluster = op.post("/v1/clusters", cluster_request(fleet["profile"], fleet["account"])).json()
    wait_until(lambda: len([r for r in cloud_rows(database_url, cluster["id"]) if r["kind"] == "instance"]) >= 2,
               timeout=60, message="some instances")  # fmt: skip
    assert op.get(f"/v1/clusters/{cluster['id']}").json()["phase"] == "Provisioning"
    assert op.delete(f"/v1/clusters/{cluster['id']}").status_code == 202
    wait_until(lambda: op.get(f"/v1/clusters/{cluster['id']}").status_code == 404, timeout=90, message="gone")
    assert cloud_rows(database_url, cluster["id"]) == []
