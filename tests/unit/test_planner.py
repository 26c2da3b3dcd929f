"""The typed cluster spec round-trips its stored JSON, and the planner turns it into steps."""

from __future__ import annotations

import pytest

from strata_common.engine.model import validate_plan
from strata_common.model.cluster import ClusterSpec, NodeTemplate
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
    plan = {step.name: step for step in plan_cluster(ClusterSpec.from_json(STORED))}
    validate_plan(list(plan.values()))
    nodes = [NodeTemplate.from_json(plan[f"ensure_node/{name}"].input) for name in
             ("cp-0", "cp-1", "cp-2", "w-0", "w-1", "w-2")]  # fmt: skip
    assert [n.init for n in nodes] == [True, False, False, False, False, False]
    assert [n.zone for n in nodes] == ["local-1a", "local-1b", "local-1c", "local-1a", "local-1b", "local-1a"]
    assert plan["ensure_node/cp-1"].depends_on == ("ensure_node/cp-0",)
    assert plan["ensure_node/w-2"].depends_on == ("ensure_node/cp-2",)
    assert plan["ensure_pack/calico"].condition == "NetworkingReady"
    assert plan["ensure_pack/prometheus"].depends_on == ("ensure_pack/calico",)
    assert plan["finalize_create"].depends_on == ("prune_packs",)


def test_delete_and_override_plans():
    spec = ClusterSpec.from_json(STORED)
    assert [s.name for s in plan_cluster(spec.for_delete())] == [
        "delete_nodes", "delete_infrastructure", "sweep", "finalize_delete"]  # fmt: skip
    assert [s.name for s in plan_override(spec, "prometheus", running=True)] == ["ensure_pack/prometheus"]
    assert len(plan_override(spec, "prometheus", running=False)) == len(plan_cluster(spec))
