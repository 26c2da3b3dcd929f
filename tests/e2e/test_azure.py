"""Clusters on the Azure driver, end to end through the API and real worker processes, against our Azure
Resource Manager stand-in (tests/arm_server.py, a real HTTPS process): azure-identity gets its tokens from
the stand-in's identity endpoint, image builds run over real SSH (Debian's sshd standing in for the builder
VM), and the clusters' Kubernetes APIs are served by the local cloud's emulator (`"kubernetes": "emulated"`)."""

from __future__ import annotations

import re
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from api_support import LOCAL_PROFILE
from azure_support import QUOTA_WORDS, ROOMY_QUOTA, ArmStandIn, azure_account
from kubernetes import client as k8s
from test_addons import events, kube
from test_aws import create, delete_and_wait, wait_phase

from helpers import wait_until

KILLED = Path(tempfile.gettempdir()) / f"strata-azure-killed-{uuid.uuid4().hex}"
# The provisioner SIGKILLs itself once, right after a worker's VM PUT was accepted and before its step recorded it.
FLEET_ENV = {"STRATA_TEST_KILL_AT": f"ensure_node/workers-1@after-cloud-call@{KILLED}"}
ZONES = ["1", "2"]
POOLS = [
    {"name": "cp", "role": "controlPlane", "count": 3, "instanceType": "Standard_D4s_v5", "zones": ZONES},
    {"name": "workers", "role": "worker", "count": 2, "instanceType": "Standard_D2s_v5", "zones": ZONES},
]
SMALL = [
    {"name": "cp", "role": "controlPlane", "count": 1, "instanceType": "Standard_D4s_v5", "zones": ZONES[:1]},
    {"name": "workers", "role": "worker", "count": 1, "instanceType": "Standard_D2s_v5", "zones": ZONES[:1]},
]
NODES_ONLY = {"name": "nodes", "layers": LOCAL_PROFILE["layers"][:2]}


def driver(arm: ArmStandIn):
    from strata_azure.plugin import AzurePlugin
    from strata_common.clouds.registry import CloudAccount

    body = azure_account(arm)
    account = CloudAccount(str(uuid.uuid4()), "azure", body["config"], body["credentials"])
    return AzurePlugin().driver(None, None, account)  # type: ignore[arg-type]


def owned(arm: ArmStandIn, cluster_id: str) -> list:
    return driver(arm).list_owned({"strata:cluster": cluster_id})


@pytest.fixture
def azure(clients, arm, sshd):
    """An Azure account on the stand-in in the test's project; faults and quotas are put back afterwards."""
    account = clients["operator"].post("/v1/cloudaccounts", azure_account(arm, sshd))
    assert account.status_code == 201, account.text
    yield account.json()["id"]
    arm.clear_faults()
    arm.quota("eastus", ROOMY_QUOTA)


def test_an_account_is_checked_with_azure_and_a_refusal_names_what_to_fix(clients, arm):
    op = clients["operator"]
    created = op.post("/v1/cloudaccounts", azure_account(arm))
    assert created.status_code == 201, created.text
    assert arm.secret not in created.text and created.json()["hasCredentials"]

    wrong = azure_account(arm)
    wrong["credentials"]["clientSecret"] = "not-the-secret"
    refused = op.post("/v1/cloudaccounts", {**wrong, "name": "wrong"})
    assert refused.status_code == 422, refused.text
    (said,) = refused.json()["error"]["fields"]["credentials"]
    assert said.startswith("ClientAuthenticationError: AADSTS7000215: Invalid client secret provided.")
    assert "not-the-secret" not in refused.text

    elsewhere = azure_account(arm, subscriptionId=str(uuid.uuid4()))  # a subscription the principal has no role on
    refused = op.post("/v1/cloudaccounts", {**elsewhere, "name": "elsewhere"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["fields"]["credentials"][0].startswith("AuthorizationFailed: The client")

    malformed = op.post("/v1/cloudaccounts", {**azure_account(arm, tenantId="contoso"), "name": "malformed"})
    assert malformed.status_code == 422
    assert (
        malformed.json()["error"]["fields"]["config.tenantId"]
        == "must be a GUID (00000000-0000-0000-0000-000000000000)"
    )

    catalog = op.get(f"/v1/cloudaccounts/{created.json()['id']}/catalog").json()
    regions = {r["name"]: [z["name"] for z in r["zones"]] for r in catalog["regions"]}
    assert regions["eastus"] == ["1", "2", "3"]
    assert {"Standard_D2s_v5": 2, "Standard_D4s_v5": 4}.items() <= {
        t["name"]: t["cpu"] for t in catalog["instanceTypes"]}.items()  # fmt: skip


def test_a_cluster_over_two_zones_runs_its_addons_and_delete_leaves_nothing(clients, fleet_env, azure, arm, sshd):
    op = clients["operator"]
    before, started = Counter(arm.calls()), time.monotonic()
    cluster_id = create(op, azure, LOCAL_PROFILE, POOLS, name="shop", region="eastus")
    running = wait_phase(op, cluster_id, timeout=300)
    at_running, took = Counter(arm.calls()), time.monotonic() - started
    assert {c["status"] for c in running["conditions"]} == {"True"}

    resources = owned(arm, cluster_id)
    (group,) = [r for r in resources if r.kind == "resource_group"]  # one resource group per cluster
    assert all(r.id.lower().startswith(group.id.lower() + "/") for r in resources if r is not group)
    vms = [r for r in resources if r.kind == "instance"]
    assert Counter((vm.tags["strata:pool"], vm.zone) for vm in vms) == {
        ("cp", "1"): 2, ("cp", "2"): 1, ("workers", "1"): 1, ("workers", "2"): 1}  # fmt: skip
    assert KILLED.exists()  # the provisioner died after workers-1's VM PUT; its re-run made no second VM
    assert set(Counter(vm.tags["strata:node"] for vm in vms).values()) == {1}
    # one builder VM per build attempt (this test process may have built the image already)
    builds = len({re.search(r"\(attempt (\d+)\)", e["message"]).group(1) for e in events(op, cluster_id, "ImageBuild")})
    assert at_running["PUT virtualMachines"] - before["PUT virtualMachines"] == 5 + builds

    network = network_client(arm)
    rg = group.id.split("/")[-1]
    vnet = next(r for r in resources if r.kind == "network")
    subnets = {s["name"]: s for s in network.virtual_networks.get(rg, vnet.id.split("/")[-1]).as_dict()["properties"]
               ["subnets"]}  # fmt: skip
    assert set(subnets) == {"control-plane", "workers"}
    nics = {n["name"]: n for n in (x.as_dict() for x in network.network_interfaces.list(rg))}
    groups = {g["name"]: g for g in (x.as_dict() for x in network.network_security_groups.list(rg))}
    role_of_group = {g["id"].lower(): g["tags"]["strata:role"] for g in groups.values()}
    for vm in vms:  # each node in its role's subnet, behind its role's NSG, in its role's ASG
        nic = nics[f"{vm.id.split('/')[-1]}-nic"]["properties"]
        config = nic["ipConfigurations"][0]["properties"]
        assert config["subnet"]["id"].endswith(f"/subnets/{vm.tags['strata:role']}")
        assert role_of_group[nic["networkSecurityGroup"]["id"].lower()] == vm.tags["strata:role"]
        assert [a["id"].split("/")[-1].rsplit("-", 1)[0] for a in config["applicationSecurityGroups"]] == [
            vm.tags["strata:role"]]  # fmt: skip
    control = next(g for g in groups.values() if g["tags"]["strata:role"] == "control-plane")["properties"]
    for port in ("2379-2380", "10250", "10257", "10259"):  # control-plane-only ports: from control-plane nodes only
        (rule,) = [r["properties"] for r in control["securityRules"] if r["properties"]["destinationPortRange"] == port]
        assert [a["id"].split("/")[-1].rsplit("-", 1)[0] for a in rule["sourceApplicationSecurityGroups"]] == [
            "control-plane"] and not rule.get("sourceAddressPrefixes")  # fmt: skip
    public = {(g["tags"]["strata:role"], r["properties"]["destinationPortRange"]) for g in groups.values()
              for r in g["properties"]["securityRules"] if "0.0.0.0/0" in (r["properties"].get("sourceAddressPrefixes")
                                                                          or [])}  # fmt: skip
    # only the API is open to the world: on the balancer's group, and on the control plane's through the
    # balancer (Azure's load balancer keeps the client's address)
    assert public == {("load-balancer", "6443"), ("control-plane", "6443")}

    (balancer,) = [r for r in resources if r.kind == "load_balancer"]
    control_plane = sorted(vm.id for vm in vms if vm.tags["strata:role"] == "control-plane")
    described = driver(arm).describe([balancer.id])[0]
    assert sorted(t.lower() for t in described.spec["targets"]) == sorted(t.lower() for t in control_plane)
    lb = network.load_balancers.get(rg, balancer.id.split("/")[-1]).as_dict()["properties"]
    assert [(p["properties"]["protocol"], p["properties"]["port"]) for p in lb["probes"]] == [("Tcp", 6443)]
    assert [(r["properties"]["frontendPort"], r["properties"]["backendPort"]) for r in lb["loadBalancingRules"]] == [
        (6443, 6443)]  # fmt: skip
    assert described.spec["dnsName"].endswith(".eastus.cloudapp.azure.com")
    kubeconfig = op.get(f"/v1/clusters/{cluster_id}/kubeconfig").json()["kubeconfig"]
    assert f"tls-server-name: {described.spec['dnsName']}" in kubeconfig  # the balancer's name, as the API's

    api = kube(op, cluster_id)  # the emulator serves the cluster, found through the Azure driver
    nodes = k8s.CoreV1Api(api).list_node().items
    assert len(nodes) == 5 and all(n.spec.provider_id.startswith("azure:///") for n in nodes)
    assert k8s.AppsV1Api(api).read_namespaced_deployment("prometheus", "monitoring").status.available_replicas
    assert list(Path(sshd.roots).glob("strata-*/etc/sysctl.d/60-cis-hardening.conf")), "the CIS role ran over SSH"
    (image,) = [i["imageId"] for i in op.get("/v1/images").json()["items"] if "shop" in i["clusters"]]
    assert "/galleries/strata_images_eastus/images/" in image  # a gallery image version, tagged with its signature

    delete_and_wait(op, cluster_id)
    after = Counter(arm.calls())
    assert owned(arm, cluster_id) == []
    assert arm.calls()["DELETE resourceGroups"] >= 1
    assert driver(arm).describe([group.id])[0].state == "gone"
    assert driver(arm).describe([image])[0].state == "ready"  # images are shared by signature: they stay
    created, deleted = sum((at_running - before).values()), sum((after - at_running).values())
    print(f"\nRunning in {took:.1f} s; ARM calls: {created} to create, {deleted} to delete; "
          f"{dict(at_running - before)}")  # fmt: skip


def test_the_cores_quota_story_on_azure_and_a_throttling_storm(clients, fleet_env, azure, arm):
    """The seed's story on Azure: the control plane does not fit the regional cores quota; the condition says
    so in ARM's words; a 429 storm meanwhile is waited out as ARM asks (Retry-After); once the quota is raised
    the cluster goes on with no user action."""
    op = clients["operator"]
    arm.quota("eastus", arm.usage()["eastus"] + 2)  # room for an image builder, not for a 4-core control plane
    cluster_id = create(op, azure, NODES_ONLY, SMALL, name="quota", region="eastus")

    def control_plane_failing():
        body = op.get(f"/v1/clusters/{cluster_id}").json()
        condition = next((c for c in body["conditions"] if c["type"] == "ControlPlaneReady"), None)
        return (body, condition) if condition and condition["status"] == "False" else None

    body, condition = wait_until(control_plane_failing, timeout=180, message="ControlPlaneReady False")
    assert condition["reason"] == "OperationNotAllowed" and condition["errorClass"] == "user-fixable"
    assert condition["message"].startswith("Operation could not be completed as it results in " + QUOTA_WORDS)
    assert body["phase"] == "Provisioning"

    throttled, early = arm.calls().get("PUT virtualMachines", 0), arm.early().get("PUT virtualMachines", 0)
    arm.refuse("PUT virtualMachines", "TooManyRequests", "Too many requests, retry after 1 second.", count=6,
               status=429, retry_after=1)  # fmt: skip
    arm.quota("eastus", ROOMY_QUOTA)  # the quota is raised
    wait_phase(op, cluster_id, timeout=180)
    assert arm.calls()["PUT virtualMachines"] - throttled >= 6 + 2  # the storm, then the two nodes
    assert arm.early().get("PUT virtualMachines", 0) == early  # no retry came before its Retry-After had passed
    delete_and_wait(op, cluster_id)
    assert owned(arm, cluster_id) == []


def network_client(arm: ArmStandIn):
    """Azure's network SDK on the stand-in: the test's own view of what ARM holds."""
    from azure.identity import ClientSecretCredential
    from azure.mgmt.network import NetworkManagementClient

    credential = ClientSecretCredential(arm.tenant, arm.client, arm.secret, authority=arm.url,
                                        disable_instance_discovery=True, connection_verify=str(arm.ca))  # fmt: skip
    return NetworkManagementClient(credential, arm.subscription, base_url=arm.url, connection_verify=str(arm.ca),
                                   credential_scopes=["https://management.azure.com/.default"])  # fmt: skip
