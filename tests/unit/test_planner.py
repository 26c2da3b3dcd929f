"""The typed cluster spec round-trips its stored JSON, and the planner turns it into steps."""

from __future__ import annotations

import pytest

from strata_common.engine.model import validate_plan
from strata_common.model.cluster import RUNNING, ClusterSpec, Layer, Machine, NodeTemplate, Pool, Rollout
from strata_common.planner import plan_cluster, plan_override

STORED = {  # a spec as the API has stored it since before the typed spec existed
    "name": "shop",
    "profile": {"id": "6f1c1f4a-0000-4000-8000-000000000001", "revision": 2},
    "layers": [
        {"pack": "ubuntu-22.04", "version": "1.0.0", "layer": "os", "packId": "p-os", "digest": "d1", "values": ""},
        {"pack": "kubernetes", "version": "1.32.1", "layer": "k8s", "packId": "p-k8s", "digest": "d2", "values": ""},
        {"pack": "calico", "version": "3.28.2", "layer": "cni", "packId": "p-cni", "digest": "d3",
         "values": "mtu: 1400\n"},
        {"pack": "prometheus", "version": "2.54.1", "layer": "addon", "packId": "p-prom", "digest": "d4",
         "values": ""},
    ],
    "cloudAccount": "6f1c1f4a-0000-4000-8000-000000000002",
    "cloudType": "local",
    "cloud": {"region": "local-1"},
    "pools": [
        {"name": "cp", "role": "controlPlane", "count": 3, "instanceType": "medium",
         "zones": ["local-1a", "local-1b", "local-1c"], "diskGiB": 40},
        {"name": "w", "role": "worker", "count": 3, "instanceType": "large", "zones": ["local-1a", "local-1b"],
         "diskGiB": 80},
    ],
    "overrides": {"prometheus": {"retention": "7d"}},
}  # fmt: skip


def test_spec_round_trips_its_stored_json():
    spec = ClusterSpec.from_json(STORED)
    assert spec.to_json() == STORED
    assert ClusterSpec.from_json(spec.to_json()) == spec
    assert spec.pools[1].disk_gib == 80 and spec.layer_of("k8s").pack == "kubernetes"
    assert spec.for_delete().to_json() == {**STORED, "deleting": True}
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]


def test_plan_chains_control_plane_spreads_workers_and_names_the_init_node():
    plan = {step.name: step for step in plan_cluster(ClusterSpec.from_json(STORED)).steps}
    validate_plan(list(plan.values()))
    nodes = [NodeTemplate.from_json(plan[f"ensure_node/{name}"].input) for name in
             ("cp-0", "cp-1", "cp-2", "w-0", "w-1", "w-2")]  # fmt: skip
    assert [n.init for n in nodes] == [True, False, False, False, False, False]
    assert [n.zone for n in nodes] == ["local-1a", "local-1b", "local-1c", "local-1a", "local-1b", "local-1a"]
    assert plan["ensure_node/cp-1"].depends_on == ("ensure_node/cp-0",)
    assert plan["ensure_node/w-2"].depends_on == ("ensure_node/cp-2",)
    assert plan["ensure_pack/calico"].condition == "NetworkingReady"
    assert plan["ensure_pack/prometheus"].depends_on == ("ensure_pack/calico",)
    assert plan["scan_cluster"].depends_on == ("prune_packs",) and plan["scan_cluster"].condition == "Scanned"
    assert plan["finalize_create"].depends_on == ("scan_cluster",)


def test_delete_and_override_plans():
    spec = ClusterSpec.from_json(STORED)
    assert plan_cluster(spec.for_delete()).names == [
        "delete_nodes", "delete_infrastructure", "sweep", "finalize_delete"]  # fmt: skip
    assert plan_override(spec, "prometheus", running=True).names == ["ensure_pack/prometheus"]
    assert plan_override(spec, "prometheus", running=False).names == plan_cluster(spec).names


PREREQUISITES = ("ensure_image", "ensure_security_groups", "ensure_load_balancer", "ensure_cluster_secrets")


def running(spec: ClusterSpec) -> list[Machine]:
    """The machines a cluster made by its create plan has once it runs."""
    return [Machine(n, RUNNING) for n in plan_cluster(spec).new]


def node_steps(plan) -> list[tuple[str, tuple[str, ...]]]:
    return [(s.name, s.depends_on) for s in plan.steps if s.name.startswith(("ensure_node/", "retire_node/"))]


def test_a_running_cluster_with_its_spec_unchanged_plans_no_node_step():
    spec = ClusterSpec.from_json(STORED)
    plan = plan_cluster(spec, running(spec))
    assert node_steps(plan) == [] and plan.new == [] and plan.retire == {}
    assert plan.names[-1] == "finalize_update"


def test_a_kubernetes_upgrade_replaces_the_control_plane_one_by_one_then_workers_in_batches():
    spec = ClusterSpec.from_json(STORED)
    machines = running(spec)
    k8s = spec.layer_of("k8s")
    newer = tuple(Layer(k8s.pack, "1.33.0", "k8s", "p-k8s-2", "d9") if la is k8s else la for la in spec.layers)
    upgraded = spec.for_revision(spec.profile_id, 3, newer)
    plan = plan_cluster(upgraded, machines)
    validate_plan(plan.steps)
    assert plan.retire == {m.name: "template changed" for m in machines}
    assert [n.name for n in plan.new] == ["cp-3", "cp-4", "cp-5", "w-3", "w-4", "w-5"]
    assert not any(n.init for n in plan.new)  # the cluster exists: every new control-plane node joins
    assert [n.zone for n in plan.new] == [m.zone for m in machines]  # a replacement stays in its zone
    steps = node_steps(plan)
    assert steps[:6] == [
        ("ensure_node/cp-3", PREREQUISITES), ("retire_node/cp-0", ("ensure_node/cp-3",)),
        ("ensure_node/cp-4", ("retire_node/cp-0",)), ("retire_node/cp-1", ("ensure_node/cp-4",)),
        ("ensure_node/cp-5", ("retire_node/cp-1",)), ("retire_node/cp-2", ("ensure_node/cp-5",)),
    ]  # fmt: skip
    assert steps[6:] == [  # maxSurge 1, maxUnavailable 0: one new worker, then its old one leaves
        ("ensure_node/w-3", ("retire_node/cp-2",)), ("retire_node/w-0", ("ensure_node/w-3",)),
        ("ensure_node/w-4", ("ensure_node/w-3", "retire_node/w-0")), ("retire_node/w-1", ("ensure_node/w-4",)),
        ("ensure_node/w-5", ("ensure_node/w-4", "retire_node/w-1")), ("retire_node/w-2", ("ensure_node/w-5",)),
    ]  # fmt: skip
    assert {s.condition for s in plan.steps if s.name.endswith(("cp-3", "cp-0"))} == {"ControlPlaneUpdated"}
    assert {s.condition for s in plan.steps if s.name.endswith(("w-3", "w-0"))} == {"WorkersReplaced"}


def test_surge_and_unavailable_make_batches():
    spec = ClusterSpec.from_json(STORED)
    machines = running(spec)
    workers = Pool("w", "worker", 3, "xlarge", ("local-1a", "local-1b"), 80, Rollout(max_surge=2, max_unavailable=1))
    plan = plan_cluster(spec.with_pools((spec.pools[0], workers)), machines)
    steps = dict(node_steps(plan))
    assert len(steps) == 6 and "ensure_node/cp-3" not in steps  # the control plane did not change
    assert steps["retire_node/w-0"] == steps["ensure_node/w-3"] == steps["ensure_node/w-4"] == PREREQUISITES
    # one leaves and two join at once (a batch of 3); the control plane did not change, so nothing waits for it
    assert steps["ensure_node/w-5"] == ("retire_node/w-0",)
    assert steps["retire_node/w-1"] == steps["retire_node/w-2"] == ("ensure_node/w-3", "ensure_node/w-4",
                                                                     "ensure_node/w-5")  # fmt: skip


def test_scaling_keeps_zones_balanced_and_never_reuses_a_name():
    spec = ClusterSpec.from_json(STORED)
    machines = running(spec)  # w-0 local-1a, w-1 local-1b, w-2 local-1a
    down = plan_cluster(spec.with_pools((spec.pools[0], Pool("w", "worker", 1, "large", ("local-1a", "local-1b"),
                                                                    80))), machines)  # fmt: skip
    assert down.retire == {"w-2": "scale-down", "w-1": "scale-down"} and down.new == []
    gone = {m.name for m in machines} - {"w-1", "w-2"}
    kept = [m for m in machines if m.name in gone]
    deleted = [Machine(m.template, "Deleted") for m in machines if m.name not in gone]
    up = plan_cluster(spec.with_pools((spec.pools[0], Pool("w", "worker", 4, "large", ("local-1a", "local-1b"),
                                                                  80))), [*kept, *deleted])  # fmt: skip
    assert [(n.name, n.zone) for n in up.new] == [("w-3", "local-1b"), ("w-4", "local-1a"), ("w-5", "local-1b")]
    assert all(deps == PREREQUISITES for _, deps in node_steps(up))  # scaling runs in parallel
    zones = plan_cluster(spec.with_pools((spec.pools[0], Pool("w", "worker", 3, "large", ("local-1b", "local-1c"),
                                                                     80))), machines)  # fmt: skip
    assert zones.retire == {"w-0": "zone removed", "w-2": "zone removed"}
    assert sorted(n.zone for n in zones.new) == ["local-1b", "local-1c"]


def test_unhealthy_machines_are_replaced_in_their_zone_and_removed_pools_retired():
    spec = ClusterSpec.from_json(STORED)
    machines = running(spec)
    plan = plan_cluster(spec, machines, unhealthy={"w-1"})
    assert plan.retire == {"w-1": "unhealthy"} and [(n.name, n.zone) for n in plan.new] == [("w-3", "local-1b")]
    assert {s.condition for s in plan.steps if s.name.endswith(("w-3", "w-1"))} == {"NodesHealthy"}
    only_cp = plan_cluster(spec.with_pools(spec.pools[:1]), machines)
    assert only_cp.retire == {"w-0": "pool removed", "w-1": "pool removed", "w-2": "pool removed"}


def test_an_added_zone_takes_new_nodes_and_with_rebalance_some_of_the_old_ones():
    spec = ClusterSpec.from_json(STORED)
    machines = running(spec)  # w-0, w-2 in local-1a; w-1 in local-1b
    three = ("local-1a", "local-1b", "local-1c")
    grown = plan_cluster(spec.with_pools((spec.pools[0], Pool("w", "worker", 4, "large", three, 80))), machines)
    assert grown.retire == {} and [(n.name, n.zone) for n in grown.new] == [("w-3", "local-1c")]
    moved = plan_cluster(spec.with_pools((spec.pools[0], Pool("w", "worker", 3, "large", three, 80,
                                                               rebalance=True))), machines)  # fmt: skip
    assert moved.retire == {"w-2": "rebalance"} and [(n.name, n.zone) for n in moved.new] == [("w-3", "local-1c")]
