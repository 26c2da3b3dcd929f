"""Day-2 through the API on the local cloud and the emulator, with real workers: scaling, a rolling
instance-type change watched from the cluster's own API, add-on drift corrected, a Kubernetes upgrade
by a profile revision, a drain held by a PodDisruptionBudget, health checks that replace what died
(and hold when too much died), pausing, and the provisioner killed at each point of a replacement."""

from __future__ import annotations

import threading
import time
from collections import Counter

import psycopg
import pytest
import yaml
from api_support import cluster_request
from conftest import start_fleet
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from psycopg.rows import dict_row

from helpers import wait_until

FLEET_ENV = {"STRATA_HEALTH_INTERVAL": "1", "STRATA_DRIFT_INTERVAL": "1"}
HEALTH_INTERVAL = 1.0
OS = {"pack": "ubuntu-22.04", "version": "1.0.0"}
CNI = {"pack": "calico", "version": "3.28.2"}


def layers(kubernetes: str = "1.32.1") -> list[dict]:
    return [OS, {"pack": "kubernetes", "version": kubernetes}, CNI]


def pool(name: str, count: int, instance_type: str = "medium", zones: tuple[str, ...] = ("local-1a", "local-1b"),
         role: str = "worker", **extra) -> dict:  # fmt: skip
    return {"name": name, "role": role, "count": count, "instanceType": instance_type, "zones": list(zones), **extra}


CONTROL_PLANE = pool("cp", 1, role="controlPlane", zones=("local-1a",))


@pytest.fixture
def lab(clients, fleet_env):
    op = clients["operator"]
    account = op.post("/v1/cloudaccounts", {"name": "lab", "cloud": "local"}).json()
    return {"account": account["id"], "op": op}


def create(lab, pools: list[dict], kubernetes: str = "1.32.1", name: str = "day2") -> tuple[str, str]:
    """(cluster id, profile id) of a Running cluster."""
    profile = lab["op"].post("/v1/profiles", {"name": name, "layers": layers(kubernetes)}).json()["id"]
    response = lab["op"].post("/v1/clusters", cluster_request(profile, lab["account"], name=name, pools=pools))
    assert response.status_code == 202, response.text
    cluster = response.json()["id"]
    wait_phase(lab["op"], cluster, "Running")
    return cluster, profile


def wait_phase(op, cluster_id: str, phase: str = "Running", generation: int = 0, timeout: float = 180) -> dict:
    def reached():
        body = op.get(f"/v1/clusters/{cluster_id}").json()
        return body if body["phase"] == phase and body["generation"] >= generation else None

    return wait_until(reached, timeout=timeout, interval=0.2, message=f"phase {phase} at generation {generation}")


def change(op, cluster_id: str, body: dict) -> dict:
    response = op.patch(f"/v1/clusters/{cluster_id}", body)
    assert response.status_code == 202, response.text
    return response.json()


def machines(op, cluster_id: str, every: bool = False) -> list[dict]:
    return op.get(f"/v1/clusters/{cluster_id}/machines", params={"all": "true" if every else "false"}).json()["items"]


def kube(op, cluster_id: str) -> k8s.CoreV1Api:
    config = yaml.safe_load(op.get(f"/v1/clusters/{cluster_id}/kubeconfig").json()["kubeconfig"])
    configuration = k8s.Configuration()
    k8s_config.load_kube_config_from_dict(config, client_configuration=configuration)
    return k8s.CoreV1Api(k8s.ApiClient(configuration))


def ready_nodes(core: k8s.CoreV1Api) -> dict[str, k8s.V1Node]:
    return {n.metadata.name: n for n in core.list_node().items
            if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])}  # fmt: skip


def instances(database_url: str, cluster_id: str) -> list[dict]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT id, kind, zone, spec, tags FROM lc_resources WHERE tags->>'strata:cluster' = %s"
            " AND kind = 'instance' AND deleted_at IS NULL",
            (cluster_id,),
        ).fetchall()


def cloud_calls(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT sum(calls)::bigint FROM lc_throttle").fetchone()[0]


def events(op, cluster_id: str, reason: str) -> list[dict]:
    items = op.get(f"/v1/clusters/{cluster_id}/events", params={"limit": 1000}).json()["items"]
    return [e for e in items if e["reason"] == reason]


def assert_converged(op, database_url: str, cluster_id: str) -> None:
    """Machines, instances and Nodes agree one to one, every Node Ready; nothing else is left."""
    live = machines(op, cluster_id)
    assert {m["phase"] for m in live} == {"Running"}
    launched = instances(database_url, cluster_id)
    assert sorted(i["tags"]["strata:node"] for i in launched) == sorted(f"ensure_node/{m['name']}" for m in live)
    assert sorted(i["id"] for i in launched) == sorted(m["instanceId"] for m in live)
    core = kube(op, cluster_id)
    wait_until(lambda: set(ready_nodes(core)) == {n.metadata.name for n in core.list_node().items} == {
        m["name"] for m in live}, timeout=10, message="the Nodes to be the machines, all Ready")  # fmt: skip


class NodeWatch:
    """A watch on the cluster's Nodes (through its own API) recording the fewest Ready nodes of a role seen."""

    def __init__(self, core: k8s.CoreV1Api, control_plane: bool):
        self.core, self.control_plane = core, control_plane
        self.ready: dict[str, bool] = {}
        self.fewest: int | None = None
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self) -> NodeWatch:
        listed = self.core.list_node()
        for node in listed.items:
            self.seen(node, counted=False)
        self.fewest = sum(self.ready.values())
        self.version = listed.metadata.resource_version
        self.thread.start()
        return self

    def seen(self, node: k8s.V1Node, deleted: bool = False, counted: bool = True) -> None:
        labels = node.metadata.labels or {}
        if ("node-role.kubernetes.io/control-plane" in labels) != self.control_plane:
            return
        ready = not deleted and any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
        ready = ready and not node.spec.unschedulable if not self.control_plane else ready
        self.ready[node.metadata.name] = ready
        if counted:
            count = sum(self.ready.values())
            self.fewest = count if self.fewest is None else min(self.fewest, count)

    def run(self) -> None:
        watcher = k8s_watch.Watch()
        version = self.version
        while not self.stopped.is_set():
            for event in watcher.stream(self.core.list_node, resource_version=version, timeout_seconds=2):
                self.seen(event["object"], deleted=event["type"] == "DELETED")
                version = event["object"].metadata.resource_version
                if self.stopped.is_set():
                    break

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        self.thread.join(10)


def test_workers_scale_up_and_down_and_a_paused_cluster_calls_no_cloud(lab, database_url):
    """The module's first cluster: while it is paused, no other cluster of the module makes cloud calls."""
    op = lab["op"]
    cluster, _ = create(lab, [CONTROL_PLANE, pool("w", 2)])
    assert_converged(op, database_url, cluster)

    up = change(op, cluster, {"pools": [CONTROL_PLANE, pool("w", 5)]})
    assert up["phase"] == "Updating" and up["generation"] == 2
    wait_phase(op, cluster, generation=2)
    assert_converged(op, database_url, cluster)
    assert Counter(m["zone"] for m in machines(op, cluster) if m["pool"] == "w") == {"local-1a": 3, "local-1b": 2}
    assert {m["name"] for m in machines(op, cluster) if m["pool"] == "w"} == {f"w-{i}" for i in range(5)}

    change(op, cluster, {"pools": [CONTROL_PLANE, pool("w", 1)]})
    wait_phase(op, cluster, generation=3)
    assert_converged(op, database_url, cluster)
    assert [m["name"] for m in machines(op, cluster) if m["pool"] == "w"] == ["w-0"]  # fullest zone, newest first
    deleted = {m["name"]: m["retireReason"] for m in machines(op, cluster, every=True) if m["phase"] == "Deleted"}
    assert deleted == dict.fromkeys(["w-1", "w-2", "w-3", "w-4"], "scale-down")
    assert len(events(op, cluster, "NodeDraining")) == len(events(op, cluster, "NodeDeleted")) == 4

    paused = change(op, cluster, {"paused": True})
    assert paused["paused"] is True
    before = cloud_calls(database_url)
    time.sleep(3 * HEALTH_INTERVAL)  # three health intervals: a running cluster would be checked each
    assert cloud_calls(database_url) == before
    change(op, cluster, {"paused": False})
    wait_until(lambda: cloud_calls(database_url) > before, timeout=30, message="health checks again")

    assert op.patch(f"/v1/clusters/{cluster}", {}).status_code == 422  # nothing asked
    cp2 = op.patch(f"/v1/clusters/{cluster}", {"pools": [pool("cp", 2, role="controlPlane"), pool("w", 1)]})
    assert cp2.status_code == 422 and "1, 3 or 5" in cp2.text
    no_cp = op.patch(f"/v1/clusters/{cluster}", {"pools": [pool("w", 1), pool("cp2", 1, role="controlPlane")]})
    assert no_cp.status_code == 422 and no_cp.json()["error"]["fields"] == {
        "pools": "the control-plane pool 'cp' cannot be removed or renamed"}  # fmt: skip
    bad = op.patch(f"/v1/clusters/{cluster}", {"pools": [CONTROL_PLANE, pool("w", 1, "huge", ("local-9z",))]})
    assert bad.status_code == 422
    assert set(bad.json()["error"]["fields"]) == {"pools.1.zones.0", "pools.1.instanceType"}
    twice = op.patch(f"/v1/clusters/{cluster}", {"pools": [CONTROL_PLANE, pool("w", 1), pool("w", 2)]})
    assert twice.status_code == 422
    frozen = pool("w", 1, rollout={"maxSurge": 0, "maxUnavailable": 0})
    stuck = op.patch(f"/v1/clusters/{cluster}", {"pools": [CONTROL_PLANE, frozen]})
    assert stuck.status_code == 422
    assert op.get(f"/v1/clusters/{cluster}").json()["generation"] == 3  # nothing was written
    assert op.delete(f"/v1/clusters/{cluster}").status_code == 202
    assert op.patch(f"/v1/clusters/{cluster}", {"pools": [CONTROL_PLANE, pool("w", 2)]}).status_code == 409


def test_an_instance_type_change_rolls_with_never_fewer_ready_workers(lab, database_url):
    op = lab["op"]
    cluster, _ = create(lab, [CONTROL_PLANE, pool("w", 3)])
    core = kube(op, cluster)
    with NodeWatch(core, control_plane=False) as watch:
        rolled = pool("w", 3, "large", rollout={"maxSurge": 1, "maxUnavailable": 0})
        generation = change(op, cluster, {"pools": [CONTROL_PLANE, rolled]})["generation"]
        wait_phase(op, cluster, generation=generation)
    assert watch.fewest == 3  # maxUnavailable 0: a new worker is Ready before an old one is cordoned
    assert_converged(op, database_url, cluster)
    workers = [n for n in core.list_node().items if n.metadata.labels["strata.dev/pool"] == "w"]
    assert {n.metadata.labels["node.kubernetes.io/instance-type"] for n in workers} == {"large"}
    assert sorted(n.metadata.name for n in workers) == ["w-3", "w-4", "w-5"]
    assert {m["name"] for m in machines(op, cluster)} == {"cp-0", "w-3", "w-4", "w-5"}  # the control plane stays
    assert {e["data"]["reason"] for e in events(op, cluster, "NodeDeleted")} == {"template changed"}

    # Reconciliation goes on after Running: add-on objects deleted or changed out of band are applied again.
    apps = k8s.AppsV1Api(core.api_client)
    core.delete_namespaced_config_map("calico-config", "kube-system")
    apps.patch_namespaced_deployment("calico-kube-controllers", "kube-system", {"spec": {"replicas": 3}})

    def corrected() -> set[str]:  # in one drift pass, or two when a pass was reading the objects meanwhile
        return {o for e in events(op, cluster, "DriftCorrected") for o in e["data"]["objects"]}

    wanted = {"ConfigMap kube-system/calico-config (deleted)",
              "Deployment kube-system/calico-kube-controllers (changed)"}  # fmt: skip
    wait_until(lambda: wanted <= corrected(), timeout=30, message="drift corrected")
    wait_until(lambda: apps.read_namespaced_deployment("calico-kube-controllers", "kube-system").spec.replicas == 1,
               timeout=30, message="replicas taken back")  # fmt: skip
    assert core.read_namespaced_config_map("calico-config", "kube-system").data["calico_backend"] == "vxlan"


def test_a_kubernetes_upgrade_replaces_the_control_plane_one_at_a_time_then_the_workers(lab, database_url):
    op = lab["op"]
    control_plane = pool("cp", 3, role="controlPlane", zones=("local-1a", "local-1b", "local-1c"))
    cluster, profile = create(lab, [control_plane, pool("w", 1)], kubernetes="1.31.4", name="upgrade")
    core = kube(op, cluster)
    assert {n.status.node_info.kubelet_version for n in core.list_node().items} == {"v1.31.4"}

    too_far = op.put(f"/v1/profiles/{profile}", {"layers": layers("1.33.0")}).json()["revision"]
    skipped = op.patch(f"/v1/clusters/{cluster}", {"profile": {"id": profile, "revision": too_far}})
    assert skipped.status_code == 422 and "one minor version at a time" in skipped.json()["error"]["message"]
    revision = op.put(f"/v1/profiles/{profile}", {"layers": layers("1.32.1")}).json()["revision"]
    with NodeWatch(core, control_plane=True) as watch:
        generation = change(op, cluster, {"profile": {"id": profile, "revision": revision}})["generation"]
        wait_phase(op, cluster, generation=generation, timeout=240)
    assert watch.fewest is not None and watch.fewest >= 2  # etcd quorum of 3 kept throughout

    # The false success this replaces: every node is new, none of the old instances is left.
    assert_converged(op, database_url, cluster)
    assert {n.status.node_info.kubelet_version for n in core.list_node().items} == {"v1.32.1"}
    assert k8s.VersionApi(core.api_client).get_code().git_version == "v1.32.1"
    assert sorted(m["name"] for m in machines(op, cluster)) == ["cp-3", "cp-4", "cp-5", "w-1"]
    steps = {s["name"]: s for s in op.get(f"/v1/clusters/{cluster}/steps", params={"generation": generation})
             .json()["items"]}  # fmt: skip
    order = sorted((s for s in steps.values() if s["name"].startswith(("ensure_node/", "retire_node/"))),
                   key=lambda s: s["startedAt"])  # fmt: skip
    assert [s["name"] for s in order] == ["ensure_node/cp-3", "retire_node/cp-0", "ensure_node/cp-4",
                                          "retire_node/cp-1", "ensure_node/cp-5", "retire_node/cp-2",
                                          "ensure_node/w-1", "retire_node/w-0"]  # fmt: skip
    assert len(events(op, cluster, "EtcdMemberRemoved")) == 3
    images = {i["spec"]["image"] for i in instances(database_url, cluster)}
    assert len(images) == 1  # every node from the new signature's one image, built once (here or by another test)
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        signature = conn.execute("SELECT tags->>'strata:signature' AS s FROM lc_resources WHERE id = %s",
                                 (images.pop(),)).fetchone()["s"]  # fmt: skip
        builds = conn.execute("SELECT attempt, status FROM image_builds WHERE signature = %s", (signature,)).fetchall()
    assert [b["status"] for b in builds] == ["succeeded"]  # one build (a takeover under load is a new attempt)


def test_a_disruption_budget_holds_the_drain_until_it_is_deleted(lab, database_url):
    op = lab["op"]
    cluster, _ = create(lab, [CONTROL_PLANE, pool("w", 2, zones=("local-1a",))], name="budget")
    apps, policy = k8s.AppsV1Api(kube(op, cluster).api_client), k8s.PolicyV1Api(kube(op, cluster).api_client)
    labels = {"app": "web"}
    template = k8s.V1PodTemplateSpec(
        metadata=k8s.V1ObjectMeta(labels=labels),
        spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="web", image="nginx")]),
    )
    spec = k8s.V1DeploymentSpec(replicas=2, selector=k8s.V1LabelSelector(match_labels=labels), template=template)
    apps.create_namespaced_deployment("default", k8s.V1Deployment(metadata=k8s.V1ObjectMeta(name="web"), spec=spec))
    wait_until(lambda: (apps.read_namespaced_deployment("web", "default").status.ready_replicas or 0) == 2,
               timeout=60, message="web ready")  # fmt: skip
    budget = k8s.V1PodDisruptionBudgetSpec(min_available=2, selector=k8s.V1LabelSelector(match_labels=labels))
    policy.create_namespaced_pod_disruption_budget(
        "default", k8s.V1PodDisruptionBudget(metadata=k8s.V1ObjectMeta(name="web-budget"), spec=budget)
    )

    resized = pool("w", 2, "large", zones=("local-1a",), drainTimeoutSeconds=1)
    generation = change(op, cluster, {"pools": [CONTROL_PLANE, resized]})["generation"]

    def held():
        conditions = {c["type"]: c for c in op.get(f"/v1/clusters/{cluster}").json()["conditions"]}
        replaced = conditions.get("WorkersReplaced", {})
        return replaced if replaced.get("status") == "False" else None

    condition = wait_until(held, timeout=90, message="the drain held by the budget")
    assert condition["reason"] == "DrainBlocked" and condition["errorClass"] == "user-fixable"
    assert "web-budget" in condition["message"] and "namespace default" in condition["message"]
    assert op.get(f"/v1/clusters/{cluster}").json()["phase"] == "Updating"

    policy.delete_namespaced_pod_disruption_budget("web-budget", "default")
    wait_phase(op, cluster, generation=generation)
    assert_converged(op, database_url, cluster)
    assert apps.read_namespaced_deployment("web", "default").status.ready_replicas == 2  # rescheduled elsewhere


def test_dead_instances_are_replaced_unless_too_many_died(lab, database_url):
    op = lab["op"]
    cluster, _ = create(lab, [CONTROL_PLANE, pool("w", 5)], name="health")
    victim = next(m for m in machines(op, cluster) if m["name"] == "w-2")
    with psycopg.connect(database_url) as conn:  # terminated out of band
        conn.execute("UPDATE lc_resources SET deleted_at = now() WHERE id = %s", (victim["instanceId"],))
    wait_until(lambda: events(op, cluster, "NodeUnhealthy"), timeout=30, message="the dead node found")
    wait_until(lambda: op.get(f"/v1/clusters/{cluster}").json()["phase"] == "Running"
               and len([m for m in machines(op, cluster) if m["pool"] == "w"]) == 5, timeout=60,
               message="replaced")  # fmt: skip
    assert_converged(op, database_url, cluster)
    replacement = next(m for m in machines(op, cluster) if m["name"] == "w-5")
    assert replacement["zone"] == victim["zone"]
    assert next(m for m in machines(op, cluster, every=True) if m["name"] == "w-2")["retireReason"] == "unhealthy"

    doomed = [m["instanceId"] for m in machines(op, cluster) if m["name"] in ("w-0", "w-1", "w-3")]
    generation = op.get(f"/v1/clusters/{cluster}").json()["generation"]
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE lc_resources SET deleted_at = now() WHERE id = ANY(%s)", (doomed,))

    def held():
        found = {c["type"]: c for c in op.get(f"/v1/clusters/{cluster}").json()["conditions"]}.get("NodesHealthy")
        return found if found and found["status"] == "False" else None

    condition = wait_until(held, timeout=30, message="health check holding")
    assert condition["reason"] == "TooManyUnhealthy"
    assert "3 of 5 nodes of pool w are unhealthy (w-0, w-1, w-3)" in condition["message"]
    time.sleep(3 * HEALTH_INTERVAL)  # more checks: still nothing replaced
    assert op.get(f"/v1/clusters/{cluster}").json()["generation"] == generation
    assert len([m for m in machines(op, cluster) if m["pool"] == "w"]) == 5


@pytest.mark.own_stack  # its provisioner kills itself at each dangerous point of a node's life
def test_a_provisioner_killed_at_each_point_of_a_nodes_life_leaves_one_node_each(
    clients, processes, strata_env, database_url, tmp_path
):
    """Before and after the launch's cloud call (creating), after the new instance's launch, after the drain
    and before the old instance's delete (replacing): no duplicate node, no node lost, no leak."""
    creating = ["ensure_node/w-0@before-cloud-call", "ensure_node/w-1@after-cloud-call"]
    hooks = [
        *creating,
        "ensure_node/w-2@after-cloud-call",
        "retire_node/w-0@after-drain",
        "retire_node/w-1@before-delete",
    ]
    markers = [tmp_path / f"killed-{i}" for i in range(len(hooks))]
    kill_at = ",".join(f"{hook}@{marker}" for hook, marker in zip(hooks, markers, strict=True))
    start_fleet(
        processes, {**strata_env, **FLEET_ENV, "STRATA_TEST_KILL_AT": kill_at, "STRATA_STEP_LEASE_SECONDS": "1.5"}
    )
    op = clients["operator"]
    lab = {"op": op, "account": op.post("/v1/cloudaccounts", {"name": "lab", "cloud": "local"}).json()["id"]}
    cluster, _ = create(lab, [CONTROL_PLANE, pool("w", 2, zones=("local-1a",))], name="killed")
    assert all(marker.exists() for marker in markers[:2])
    created = {s["name"]: s for s in op.get(f"/v1/clusters/{cluster}/steps").json()["items"]}
    for name in ("ensure_node/w-0", "ensure_node/w-1"):  # each ran again after its kill and launched once, by its
        # token (a loaded machine may let the short lease of a live run expire too: a third run finds the same)
        assert created[name]["attempts"] >= 2 and created[name]["output"]["token"] == f"{cluster}:{name}"
    assert Counter(i["tags"]["strata:node"] for i in instances(database_url, cluster)) == {
        "ensure_node/cp-0": 1, "ensure_node/w-0": 1, "ensure_node/w-1": 1}  # fmt: skip

    generation = change(op, cluster, {"pools": [CONTROL_PLANE, pool("w", 2, "large", zones=("local-1a",))]})[
        "generation"]  # fmt: skip
    wait_phase(op, cluster, generation=generation)
    assert all(marker.exists() for marker in markers)  # each hook fired: a worker died at each point
    assert_converged(op, database_url, cluster)
    assert sorted(m["name"] for m in machines(op, cluster)) == ["cp-0", "w-2", "w-3"]
    launched = Counter(i["tags"]["strata:node"] for i in instances(database_url, cluster))
    assert launched == {"ensure_node/cp-0": 1, "ensure_node/w-2": 1, "ensure_node/w-3": 1}  # no duplicate, no leak
