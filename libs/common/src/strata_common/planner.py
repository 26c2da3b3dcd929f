"""The planner: a pure function from a cluster's desired spec to the steps that make it so.

Create: the cluster's VM image, found, copied or built by the image builder (ImageReady), beside
network, then security groups and load balancer, and the cluster's PKI (InfrastructureReady);
control-plane nodes, each booting kubeadm from its user data,
one after another (ControlPlaneReady); worker nodes in parallel (WorkersReady); then the CNI
(NetworkingReady), CSI (StorageReady) and each add-on pack in profile order, and the removal of
packs the profile no longer has (AddonsReady); then the cluster is marked Running. A values
override of a running cluster re-applies that one pack. Delete: nodes, then infrastructure, then a
sweep by ownership tag that must find nothing, then the cluster is gone.
"""

from __future__ import annotations

from strata_common.engine.model import StepSpec
from strata_common.model.cluster import CONTROL_PLANE, ClusterSpec, Layer, NodeTemplate

Q = "provisioner"
PACK_CONDITIONS = {"cni": "NetworkingReady", "csi": "StorageReady", "addon": "AddonsReady"}
# What the first control-plane node waits for.
NODE_PREREQUISITES = ("ensure_image", "ensure_security_groups", "ensure_load_balancer", "ensure_cluster_secrets")


def node_steps(spec: ClusterSpec) -> tuple[list[StepSpec], list[StepSpec]]:
    """(control-plane steps, chained; worker steps, each after the last control-plane node). The first
    control-plane node initialises the cluster; its input says so."""
    control: list[StepSpec] = []
    workers: list[NodeTemplate] = []
    for pool in spec.pools:
        for i in range(pool.count):
            node = NodeTemplate(
                pool=pool.name,
                role=pool.role,
                index=i,
                zone=pool.zones[i % len(pool.zones)],  # spread evenly over the pool's zones
                instance_type=pool.instance_type,
                disk_gib=pool.disk_gib,
                init=pool.role == CONTROL_PLANE and not control,
            )
            if pool.role == CONTROL_PLANE:
                after = (control[-1].name,) if control else NODE_PREREQUISITES
                control.append(StepSpec(f"ensure_node/{node.name}", Q, "ControlPlaneReady", after, node.to_json()))
            else:
                workers.append(node)
    last = (control[-1].name,) if control else NODE_PREREQUISITES
    return control, [StepSpec(f"ensure_node/{n.name}", Q, "WorkersReady", last, n.to_json()) for n in workers]


def plan_cluster(spec: ClusterSpec) -> list[StepSpec]:
    """Steps that bring a cluster to its spec."""
    if spec.deleting:
        return [
            StepSpec("delete_nodes", Q, "Ready"),
            StepSpec("delete_infrastructure", Q, "Ready", ("delete_nodes",)),
            StepSpec("sweep", Q, "Ready", ("delete_infrastructure",)),
            StepSpec("finalize_delete", Q, "Ready", ("sweep",)),
        ]
    infrastructure = [
        StepSpec("ensure_image", "imagebuilder", "ImageReady"),
        StepSpec("ensure_network", Q, "InfrastructureReady"),
        StepSpec("ensure_security_groups", Q, "InfrastructureReady", ("ensure_network",)),
        StepSpec("ensure_load_balancer", Q, "InfrastructureReady", ("ensure_security_groups",)),
        StepSpec("ensure_cluster_secrets", Q, "InfrastructureReady"),
    ]
    control, workers = node_steps(spec)
    nodes = control + workers
    after = tuple(s.name for s in nodes) or NODE_PREREQUISITES
    packs = []
    for layer in spec.layers:
        if layer.layer in PACK_CONDITIONS:
            packs.append(pack_step(layer, after))
            after = (packs[-1].name,)
    packs.append(StepSpec("prune_packs", "addons", "AddonsReady", after))
    return [*infrastructure, *nodes, *packs, StepSpec("finalize_create", Q, "Ready", ("prune_packs",))]


def pack_step(layer: Layer, after: tuple[str, ...] = ()) -> StepSpec:
    """The step that applies one pack layer and waits for its workloads."""
    return StepSpec(f"ensure_pack/{layer.pack}", "addons", PACK_CONDITIONS[layer.layer], after, {"pack": layer.pack})


def plan_override(spec: ClusterSpec, pack: str, running: bool) -> list[StepSpec]:
    """After a values override: a running cluster re-applies that pack alone; one still being created
    gets its whole plan again (what exists is found, and the pack is applied with the new values)."""
    layer = spec.pack(pack)
    if not running or layer is None:
        return plan_cluster(spec)
    return [pack_step(layer)]
