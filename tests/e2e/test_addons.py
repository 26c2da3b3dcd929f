"""Add-on packs applied through the cluster's Kubernetes API (the local cloud's emulator), read back
with the official client and the kubeconfig the API hands out: effective values, overrides applied
at once, a pack whose workload never becomes available, and packs removed from the profile."""

from __future__ import annotations

import json

import pytest
import yaml
from api_support import LOCAL_PROFILE, cluster_request
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException

from helpers import wait_until

PROFILE = {  # the API tests' profile (Calico MTU 1400, Prometheus retention 7d) plus Permissions Manager
    "name": "platform",
    "layers": [
        *LOCAL_PROFILE["layers"],
        {"pack": "permissions-manager", "version": "1.0.0", "values": "groups:\n  developers: app-team\n"},
    ],
}
POOLS = [
    {"name": "cp", "role": "controlPlane", "count": 1, "instanceType": "medium", "zones": ["local-1a"]},
    {"name": "w", "role": "worker", "count": 2, "instanceType": "large", "zones": ["local-1a", "local-1b"]},
]
BROKEN_APP = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {app: shop}
  template:
    metadata:
      labels: {app: shop}
    spec:
      containers:
        - name: shop
          image: "{{ values.image.registry }}/shop:{{ values.image.tag }}"
"""


@pytest.fixture
def stack(clients, fleet_env):
    account = clients["operator"].post("/v1/cloudaccounts", {"name": "lab", "cloud": "local"}).json()
    return {"account": account["id"]}


def create_cluster(op, stack, profile: dict, name: str = "shop") -> str:
    profile_id = op.post("/v1/profiles", profile).json()["id"]
    body = cluster_request(profile_id, stack["account"], name=name, pools=POOLS)
    response = op.post("/v1/clusters", body)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def wait_phase(op, cluster_id: str, phase: str = "Running") -> dict:
    def reached():
        body = op.get(f"/v1/clusters/{cluster_id}").json()
        return body if body["phase"] == phase else None

    return wait_until(reached, timeout=180, interval=0.3, message=f"phase {phase}")


def kube(op, cluster_id: str) -> k8s.ApiClient:
    config = yaml.safe_load(op.get(f"/v1/clusters/{cluster_id}/kubeconfig").json()["kubeconfig"])
    configuration = k8s.Configuration()
    k8s_config.load_kube_config_from_dict(config, client_configuration=configuration)
    return k8s.ApiClient(configuration)


def events(op, cluster_id: str, reason: str) -> list[dict]:
    items = op.get(f"/v1/clusters/{cluster_id}/events", params={"limit": 1000}).json()["items"]
    return [e for e in items if e["reason"] == reason]


def test_cluster_with_cni_csi_and_addons_runs_with_effective_values(clients, stack):
    op = clients["operator"]
    cluster_id = create_cluster(op, stack, PROFILE)
    running = wait_phase(op, cluster_id)
    conditions = {c["type"]: c["status"] for c in running["conditions"]}
    assert {k: conditions[k] for k in ("NetworkingReady", "StorageReady", "AddonsReady", "Ready")} == dict.fromkeys(
        ("NetworkingReady", "StorageReady", "AddonsReady", "Ready"), "True"
    )
    steps = [s["name"] for s in op.get(f"/v1/clusters/{cluster_id}/steps").json()["items"]]
    packs = [s for s in steps if s.startswith("ensure_pack/")]
    assert packs == ["ensure_pack/calico", "ensure_pack/local-path", "ensure_pack/prometheus",
                     "ensure_pack/permissions-manager"]  # fmt: skip

    api = kube(op, cluster_id)
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    nodes = core.list_node().items
    assert len(nodes) == 3 and all(c.status == "True" for n in nodes for c in n.status.conditions if c.type == "Ready")
    calico = apps.read_namespaced_daemon_set("calico-node", "kube-system")
    assert calico.status.number_available == 3  # tolerates the control plane's taint
    env = {e.name: e.value for e in calico.spec.template.spec.containers[0].env}
    assert env["FELIX_VXLANMTU"] == "1400"  # profile value over the pack's 1450
    assert core.read_namespaced_config_map("calico-config", "kube-system").data["veth_mtu"] == "1400"
    storage = k8s.StorageV1Api(api).read_storage_class("local-path")
    assert storage.metadata.annotations["storageclass.kubernetes.io/is-default-class"] == "true"
    prometheus = apps.read_namespaced_deployment("prometheus", "monitoring")
    assert "--storage.tsdb.retention.time=7d" in prometheus.spec.template.spec.containers[0].args
    assert prometheus.status.available_replicas == 1
    assert prometheus.metadata.labels["strata.dev/pack"] == "prometheus"
    assert [m.manager for m in prometheus.metadata.managed_fields if m.operation == "Apply"] == ["strata"]
    pods = core.list_namespaced_pod("monitoring", label_selector="app.kubernetes.io/name=prometheus").items
    assert pods[0].status.phase == "Running" and not pods[0].spec.node_name.startswith("cp")
    binding = k8s.RbacAuthorizationV1Api(api).read_cluster_role_binding("strata:developers")
    assert [s.name for s in binding.subjects] == ["app-team"]
    inventory = core.read_namespaced_config_map("strata-pack-prometheus", "kube-system")
    assert "apps/v1|Deployment|monitoring|prometheus" in json.loads(inventory.data["objects"])


def test_override_is_applied_at_once_and_a_removed_addon_is_pruned(clients, stack):
    op = clients["operator"]
    cluster_id = create_cluster(op, stack, PROFILE)
    wait_phase(op, cluster_id)
    base = f"/v1/clusters/{cluster_id}/packs/prometheus/values"
    before = op.get(base).json()
    assert before["origins"]["retention"] == "profile" and before["origins"]["replicas"] == "pack"

    assert op.put(base, data="replicas: [", headers={"Content-Type": "application/yaml"}).status_code == 400
    assert op.put(base, data="- a list\n", headers={"Content-Type": "application/yaml"}).status_code == 422
    broken = op.put(base, json={"image": "latest"})  # replaces the image map the manifests read image.tag from
    assert broken.status_code == 422 and "image.tag" in broken.json()["error"]["fields"]["values"]
    assert op.put(f"/v1/clusters/{cluster_id}/packs/vault/values", json={}).status_code == 404

    response = op.put(base, data="replicas: 2\nretention: 30d\n", headers={"Content-Type": "application/yaml"})
    assert response.status_code == 202, response.text
    assert response.json()["applying"]["steps"] == ["ensure_pack/prometheus"]
    apps = k8s.AppsV1Api(kube(op, cluster_id))

    def scaled():
        deployment = apps.read_namespaced_deployment("prometheus", "monitoring")
        return deployment if deployment.spec.replicas == 2 and deployment.status.available_replicas == 2 else None

    deployment = wait_until(scaled, timeout=60, message="the override to reach the Deployment")
    assert "--storage.tsdb.retention.time=30d" in deployment.spec.template.spec.containers[0].args
    generation = response.json()["applying"]["generation"]
    steps = op.get(f"/v1/clusters/{cluster_id}/steps", params={"generation": generation}).json()["items"]
    assert [s["name"] for s in steps] == ["ensure_pack/prometheus"]
    assert events(op, cluster_id, "ValuesOverridden")[-1]["data"]["paths"] == ["replicas", "retention"]
    applied = events(op, cluster_id, "PackApplied")[-1]
    assert "apps/v1|Deployment|monitoring|prometheus" in applied["data"]["changed"]
    after = op.get(base).json()
    assert after["values"]["replicas"] == 2 and after["override"] == {"replicas": 2, "retention": "30d"}
    assert after["origins"]["replicas"] == "override" and after["origins"]["scrapeInterval"] == "pack"

    # A new profile revision without Prometheus: the override conflicts until the profile's removal is
    # taken; applied, its objects go, the rest stays.
    profile_id = op.get(f"/v1/clusters/{cluster_id}").json()["profile"]["id"]
    layers = [layer for layer in PROFILE["layers"] if layer["pack"] != "prometheus"]
    assert op.put(f"/v1/profiles/{profile_id}", {"layers": layers}).status_code == 200
    refused = op.patch(f"/v1/clusters/{cluster_id}", {"profile": {"id": profile_id, "revision": 2}})
    assert refused.status_code == 409 and set(refused.json()["error"]["fields"]) == {
        "prometheus:replicas", "prometheus:retention"
    }  # fmt: skip
    update = op.get(f"/v1/clusters/{cluster_id}/updates").json()["items"][0]
    take = [{"pack": c["pack"], "path": c["path"], "action": "take-profile"} for c in update["conflicts"]]
    url = f"/v1/clusters/{cluster_id}/updates/{update['number']}"
    assert op.put(f"{url}/resolutions", {"resolutions": take}).status_code == 200
    moved = op.post(f"{url}/apply")
    assert moved.status_code == 202, moved.text

    def pruned():
        return events(op, cluster_id, "PackRemoved")

    wait_until(pruned, timeout=120, message="prometheus to be pruned")
    api = kube(op, cluster_id)
    with pytest.raises(ApiException) as gone:
        k8s.CoreV1Api(api).read_namespace("monitoring")
    assert gone.value.status == 404
    with pytest.raises(ApiException):
        k8s.RbacAuthorizationV1Api(api).read_cluster_role("strata-prometheus")
    assert k8s.AppsV1Api(api).read_namespaced_daemon_set("calico-node", "kube-system")


def test_addon_that_never_becomes_available_is_reported_and_fixed_by_an_override(clients, stack, tmp_path):
    registry = tmp_path / "registry"
    folder = registry / "shop" / "1.0.0"
    (folder / "manifests").mkdir(parents=True)
    (folder / "manifests" / "shop.yaml").write_text(BROKEN_APP)
    (folder / "values.yaml").write_text("image:\n  registry: registry.invalid\n  tag: '1.0'\n")
    (folder / "pack.json").write_text(json.dumps({"name": "shop", "version": "1.0.0", "layer": "addon",
                                                  "cloudTypes": ["local"]}))  # fmt: skip
    (registry / "index.json").write_text(json.dumps({"name": "apps", "packs": ["shop/1.0.0"]}))
    admin, op = clients["admin"], clients["operator"]
    created = admin.post("/v1/registries", {"name": "apps", "source": str(registry)}).json()
    assert admin.post(f"/v1/registries/{created['id']}/sync").json()["failed"] == []
    profile = {"name": "shop", "layers": [*PROFILE["layers"][:3], {"pack": "shop", "version": "1.0.0"}]}
    cluster_id = create_cluster(op, stack, profile)

    def failing():
        body = op.get(f"/v1/clusters/{cluster_id}").json()
        condition = next((c for c in body["conditions"] if c["type"] == "AddonsReady"), None)
        return condition if condition and condition["status"] == "False" else None

    condition = wait_until(failing, timeout=180, interval=0.3, message="AddonsReady to turn False")
    assert "Deployment default/shop" in condition["message"]
    assert "ImagePullBackOff" in condition["message"] or "ErrImagePull" in condition["message"]
    assert condition["errorClass"] == "user-fixable"
    assert op.get(f"/v1/clusters/{cluster_id}").json()["phase"] == "Provisioning"

    fix = op.put(f"/v1/clusters/{cluster_id}/packs/shop/values", json={"image": {"registry": "quay.io/shop"}})
    assert fix.status_code == 202, fix.text
    wait_phase(op, cluster_id)
    deployment = k8s.AppsV1Api(kube(op, cluster_id)).read_namespaced_deployment("shop", "default")
    assert deployment.spec.template.spec.containers[0].image == "quay.io/shop/shop:1.0"
    assert deployment.status.available_replicas == 1
