"""vSphere accounts through the API against vcsim (behind the fault proxy, tests/vsphere_support.py):
the account is checked by logging in and finding its datacenter, and a refusal names what to fix."""

from __future__ import annotations

import base64
import functools
import getpass
import http.server
import json
import tarfile
import tempfile
import threading
import uuid
from collections import Counter
from pathlib import Path

import yaml
from api_support import LOCAL_PROFILE, cluster_request
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from vsphere_support import TEMPLATE

from helpers import wait_until

INVALID_LOGIN = "Cannot complete login due to an incorrect user name or password."
INSUFFICIENT = "The available Memory resources in the parent resource pool are insufficient for the operation."
KILLED = Path(tempfile.gettempdir()) / f"strata-vsphere-killed-{uuid.uuid4().hex}"
# The provisioner SIGKILLs itself once, right after a worker's clone answered and before its step recorded it.
FLEET_ENV = {"STRATA_TEST_KILL_AT": f"ensure_node/workers-1@after-cloud-call@{KILLED}"}


def vsphere_account(vcsim, sshd=None, **config) -> dict:
    if sshd is not None:  # image builders and scanners: the sshd stands in for the VMs
        config["builderSsh"] = {"address": sshd.address, "user": getpass.getuser(), "root": str(sshd.roots)}
    return {"name": "lab", "cloud": "vsphere",
            "config": {"host": f"{vcsim.host}:{vcsim.port}", "datacenter": "DC0", "insecure": True,
                       "portGroups": {"control-plane": "DC0_DVPG0", "workers": "DC0_DVPG1"},
                       "vipPool": "10.20.0.10-10.20.0.50", **config},
            "credentials": {"username": vcsim.user, "password": vcsim.password}}  # fmt: skip


def test_an_account_is_checked_with_vcenter_and_a_refusal_names_what_to_fix(clients, vcsim):
    op = clients["operator"]
    created = op.post("/v1/cloudaccounts", vsphere_account(vcsim))
    assert created.status_code == 201, created.text
    assert vcsim.password not in created.text

    wrong_place = op.post("/v1/cloudaccounts", {**vsphere_account(vcsim, datacenter="Nowhere"), "name": "lab2"})
    assert wrong_place.status_code == 422, wrong_place.text
    said = wrong_place.json()["error"]["fields"]["config.datacenter"][0]
    assert "Nowhere" in said and "DC0" in said  # what vCenter has

    vcsim.refuse("Login", "InvalidLogin", INVALID_LOGIN)
    refused = op.post("/v1/cloudaccounts", {**vsphere_account(vcsim), "name": "lab3"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["fields"]["credentials"] == [f"InvalidLogin: {INVALID_LOGIN}"]
    assert vcsim.password not in refused.text

    catalog = op.get(f"/v1/cloudaccounts/{created.json()['id']}/catalog").json()
    (region,) = catalog["regions"]  # the account's datacenter; its compute clusters are the zones
    assert region["name"] == "DC0" and [z["name"] for z in region["zones"]] == ["DC0_C0", "DC0_C1"]
    assert all(z["hosts"] == 2 and z["cpuMhz"] > 0 and z["memoryMiB"] > 0 for z in region["zones"])
    assert {"small", "medium", "large"} <= {t["name"] for t in catalog["instanceTypes"]}
    local = op.post("/v1/cloudaccounts", {"name": "here", "cloud": "local"}).json()["id"]
    assert "local-1" in {r["name"] for r in op.get(f"/v1/cloudaccounts/{local}/catalog").json()["regions"]}

    unchecked = op.post("/v1/cloudaccounts", {**vsphere_account(vcsim, insecure=False), "name": "lab4"})
    assert unchecked.status_code == 422  # no way to check vCenter's certificate was given
    assert "config.thumbprint" in unchecked.json()["error"]["fields"]


def vsphere_os_pack(registry: Path, name: str = "ubuntu-vsphere", image: dict | None = None,
                    version: str = "22.04") -> None:  # fmt: skip
    """An OS pack whose vSphere template is used as it is (Kubernetes installed in it already); Ubuntu
    22.04's images are scanned against the CIS benchmark on first use, 24.04's are not (no content)."""
    folder = registry / name / "1.0.0"
    folder.mkdir(parents=True)
    (folder / "values.yaml").write_text("{}\n")
    manifest = {"name": name, "version": "1.0.0", "layer": "os", "cloudTypes": ["vsphere"],
                "os": {"family": "ubuntu", "version": version, "roles": [], "skipK8sInstall": True,
                       "images": {"vsphere": image or {"template": TEMPLATE}}}}  # fmt: skip
    (folder / "pack.json").write_text(json.dumps(manifest))
    (registry / "index.json").write_text(json.dumps({"name": "lab", "packs": [f"{name}/1.0.0"]}))


def owned(vcsim, cluster_id: str) -> list:
    return owned_by(vcsim, {"strata:cluster": cluster_id})


def test_a_cluster_over_two_compute_clusters_runs_its_addons_and_delete_leaves_nothing(clients, fleet_env, vcsim,
                                                                                       sshd, tmp_path):  # fmt: skip
    op, admin = clients["operator"], clients["admin"]
    vsphere_os_pack(tmp_path / "registry")
    registry = admin.post("/v1/registries", {"name": "lab", "source": str(tmp_path / "registry")}).json()
    assert admin.post(f"/v1/registries/{registry['id']}/sync").json()["loaded"] == ["ubuntu-vsphere@1.0.0"]
    account = op.post("/v1/cloudaccounts", vsphere_account(vcsim, sshd, kubernetes="emulated")).json()["id"]
    layers = [{"pack": "ubuntu-vsphere", "version": "1.0.0"}, *LOCAL_PROFILE["layers"][1:]]
    profile = op.post("/v1/profiles", {"name": "vsphere", "layers": layers})
    assert profile.status_code == 201, profile.text
    zones = ["DC0_C0", "DC0_C1"]
    pools = [{"name": "cp", "role": "controlPlane", "count": 3, "instanceType": "medium", "zones": zones},
             {"name": "workers", "role": "worker", "count": 2, "instanceType": "large", "zones": zones}]  # fmt: skip
    body = cluster_request(profile.json()["id"], account, name="dc", cloud={"region": "DC0"}, pools=pools)
    clones_before = vcsim.calls()["CloneVM_Task"]
    created = op.post("/v1/clusters", body)
    assert created.status_code == 202, created.text
    cluster_id = created.json()["id"]

    def running():
        cluster = op.get(f"/v1/clusters/{cluster_id}").json()
        return cluster if cluster["phase"] == "Running" else None

    wait_until(running, timeout=180, interval=0.5, message="the vSphere cluster Running")
    resources = owned(vcsim, cluster_id)
    vms = [r for r in resources if r.kind == "instance"]
    assert len(vms) == 5 and {vm.zone for vm in vms} == set(zones)
    assert KILLED.exists()  # the provisioner died after workers-1's clone; its re-run cloned no second VM
    assert set(Counter(vm.tags["strata:node"] for vm in vms).values()) == {1}
    assert vcsim.calls()["CloneVM_Task"] - clones_before == 6  # five nodes and the image's scanner, once each
    control_plane = {vm.id for vm in vms if vm.tags["strata:role"] == "control-plane"}
    (endpoint,) = [r for r in resources if r.kind == "load_balancer"]
    assert endpoint.spec["address"].startswith("10.20.0.")  # a virtual IP of the account's pool
    assert set(endpoint.spec["targets"]) == control_plane
    for vm in control_plane:  # each serves the virtual IP with kube-vip, from its cloud-init (guestinfo)
        config = yaml.safe_load(user_data(vcsim, vm).removeprefix("#cloud-config"))
        (vip,) = [f for f in config["write_files"] if f["path"] == "/etc/kubernetes/manifests/kube-vip.yaml"]
        assert f"value: {endpoint.spec['address']}" in vip["content"]
    access = op.get(f"/v1/clusters/{cluster_id}/kubeconfig").json()  # the emulator serves the cluster's API
    api = k8s.ApiClient(_configuration(access["kubeconfig"]))
    nodes = k8s.CoreV1Api(api).list_node().items
    assert len(nodes) == 5 and all(condition_ready(node) for node in nodes)
    assert k8s.AppsV1Api(api).read_namespaced_deployment("prometheus", "monitoring").status.available_replicas
    reasons = {e["reason"] for e in op.get(f"/v1/clusters/{cluster_id}/events", params={"limit": 1000}).json()["items"]}
    assert "SecurityGroupsSkipped" in reasons

    assert op.delete(f"/v1/clusters/{cluster_id}").status_code == 202
    wait_until(lambda: op.get(f"/v1/clusters/{cluster_id}").status_code == 404, timeout=180, interval=0.5,
               message="the cluster deleted")  # fmt: skip
    assert owned(vcsim, cluster_id) == []


def test_insufficient_resources_are_shown_until_cleared_then_the_cluster_runs(clients, fleet_env, vcsim, sshd,
                                                                             tmp_path):  # fmt: skip
    op, admin = clients["operator"], clients["admin"]
    vsphere_os_pack(tmp_path / "registry")
    registry = admin.post("/v1/registries", {"name": "lab", "source": str(tmp_path / "registry")}).json()
    admin.post(f"/v1/registries/{registry['id']}/sync")
    account = op.post("/v1/cloudaccounts", vsphere_account(vcsim, sshd, kubernetes="emulated")).json()["id"]
    layers = [{"pack": "ubuntu-vsphere", "version": "1.0.0"}, *LOCAL_PROFILE["layers"][1:2]]
    profile = op.post("/v1/profiles", {"name": "nodes", "layers": layers}).json()["id"]
    pools = [{"name": "cp", "role": "controlPlane", "count": 1, "instanceType": "medium", "zones": ["DC0_C1"]},
             {"name": "workers", "role": "worker", "count": 1, "instanceType": "large",
              "zones": ["DC0_C1"]}]  # fmt: skip
    vcsim.refuse("CloneVM_Task", "InsufficientMemoryResourcesFault", INSUFFICIENT, count=10_000)
    try:
        body = cluster_request(profile, account, name="full", cloud={"region": "DC0"}, pools=pools)
        cluster_id = op.post("/v1/clusters", body).json()["id"]

        def refused():
            conditions = op.get(f"/v1/clusters/{cluster_id}").json()["conditions"]
            return next((c for c in conditions if c["type"] != "Ready" and c["status"] == "False"), None)

        shown = wait_until(refused, timeout=60, interval=0.3, message="the refusal on a condition")
        assert shown["errorClass"] == "user-fixable" and INSUFFICIENT in shown["message"]
    finally:
        vcsim.clear_faults()  # the administrator raised the pool's limit
    wait_until(lambda: op.get(f"/v1/clusters/{cluster_id}").json()["phase"] == "Running", timeout=120, interval=0.5,
               message="Running once vCenter has room")  # fmt: skip
    assert op.delete(f"/v1/clusters/{cluster_id}").status_code == 202
    wait_until(lambda: op.get(f"/v1/clusters/{cluster_id}").status_code == 404, timeout=120, interval=0.5,
               message="the cluster deleted")  # fmt: skip
    assert owned(vcsim, cluster_id) == []


OVF = """<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
 xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
 xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
 xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References/>
  <VirtualSystem ovf:id="ubuntu-22.04">
    <Info>Ubuntu 22.04 with Kubernetes</Info>
    <OperatingSystemSection ovf:id="94" vmw:osType="ubuntu64Guest"><Info>OS</Info></OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>hardware</Info>
      <System><vssd:ElementName>Virtual Hardware Family</vssd:ElementName><vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType></System>
      <Item><rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits><rasd:ElementName>2 vCPUs</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:ElementName>2 GiB</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>2048</rasd:VirtualQuantity></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"""


def serve_ova(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """An OVA (a tar holding the OVF descriptor; this one names no disk) on a local web server."""
    folder.mkdir()
    (folder / "ubuntu.ovf").write_text(OVF)
    with tarfile.open(folder / "ubuntu.ova", "w") as ova:
        ova.add(folder / "ubuntu.ovf", arcname="ubuntu.ovf")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/ubuntu.ova"


def test_two_clusters_asking_at_once_for_a_packs_ova_import_it_once(clients, fleet_env, vcsim, sshd, tmp_path):
    op, admin = clients["operator"], clients["admin"]
    server, url = serve_ova(tmp_path / "web")
    try:
        vsphere_os_pack(tmp_path / "registry", "ubuntu-ova", {"template": "ubuntu-ova-v1", "ova": url}, "24.04")
        registry = admin.post("/v1/registries", {"name": "lab", "source": str(tmp_path / "registry")}).json()
        admin.post(f"/v1/registries/{registry['id']}/sync")
        body = vsphere_account(vcsim, sshd, kubernetes="emulated", datacenter="DC1",
                               portGroups={"control-plane": "DC1_DVPG0", "workers": "DC1_DVPG1"})  # fmt: skip
        account = op.post("/v1/cloudaccounts", {**body, "name": "dc1"}).json()["id"]
        layers = [{"pack": "ubuntu-ova", "version": "1.0.0"}, *LOCAL_PROFILE["layers"][1:2]]
        profile = op.post("/v1/profiles", {"name": "ova", "layers": layers}).json()["id"]
        pools = [{"name": "cp", "role": "controlPlane", "count": 1, "instanceType": "medium", "zones": ["DC1_C0"]}]
        imports_before = vcsim.calls()["ImportVApp"]
        ids = [op.post("/v1/clusters", cluster_request(profile, account, name=f"ova-{n}", cloud={"region": "DC1"},
                                                       pools=pools)).json()["id"] for n in range(2)]  # fmt: skip
        for cluster_id in ids:
            wait_until(lambda c=cluster_id: op.get(f"/v1/clusters/{c}").json()["phase"] == "Running", timeout=120,
                       interval=0.5, message="both clusters Running")  # fmt: skip
    finally:
        server.shutdown()
    assert vcsim.calls()["ImportVApp"] - imports_before == 1
    templates = [r for r in owned_by(vcsim, {"strata:ova": url}) if r.kind == "image"]
    assert len(templates) == 1 and templates[0].region == "DC1"


def owned_by(vcsim, tags: dict[str, str]) -> list:
    from strata_vsphere.driver import VsphereCloud
    from strata_vsphere.session import Endpoint, Session

    session = Session(Endpoint(vcsim.host, vcsim.port, vcsim.user, vcsim.password, verify=False))
    try:
        return VsphereCloud(session, {}, "").list_owned(tags)
    finally:
        session.close()


def _configuration(kubeconfig: str) -> k8s.Configuration:
    configuration = k8s.Configuration()
    k8s_config.load_kube_config_from_dict(yaml.safe_load(kubeconfig), client_configuration=configuration)
    return configuration


def condition_ready(node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


def user_data(vcsim, vm_id: str) -> str:
    """The cloud-init a VM was given (guestinfo.userdata, base64)."""
    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim

    si = SmartConnect(host=vcsim.host, port=vcsim.port, user=vcsim.user, pwd=vcsim.password,
                      disableSslCertValidation=True)  # fmt: skip
    try:
        vm = vim.VirtualMachine(vm_id, si._stub)
        value = next(o.value for o in vm.config.extraConfig if o.key == "guestinfo.userdata")
    finally:
        Disconnect(si)
    return base64.b64decode(value).decode()
