"""The planner: a pure function from a cluster's desired spec and its machines to the steps that make
it so, and the machines to record or retire on the way.

Create: the cluster's VM image, found, copied or built by the image builder (ImageReady), beside
network, then security groups and load balancer, and the cluster's PKI (InfrastructureReady);
control-plane nodes, the first initialising the cluster, one after another (ControlPlaneReady);
worker nodes in parallel (WorkersReady); then the CNI (NetworkingReady), CSI (StorageReady) and
each add-on pack in profile order, and the removal of packs the profile no longer has
(AddonsReady); then the cluster is marked Running.

Day-2: the desired pools are diffed against the machines rows, not against step names. A machine
whose template hash differs from its pool's is replaced, as is one in a zone its pool no longer
has, one the health check found unhealthy, or (with `rebalance`) one a new zone should take over;
a pool above its count loses nodes from its fullest zone first, one below it gains nodes in its
emptiest. The control plane goes first, one node at a time, the new node joining before the old
one leaves (never fewer control-plane nodes than before). Then each worker pool, in batches of
maxSurge + maxUnavailable: up to maxUnavailable old nodes leave at the start of a batch, up to
maxSurge new ones join at once, the rest of the batch's new nodes after those left, its other old
nodes once all its new ones are Ready. Scaling and pool changes run in parallel after the control
plane. Infrastructure steps run again (idempotent; a new zone needs its subnets, a new Kubernetes
version its image), and the packs are applied again (their DaemonSets must be Ready on the new
nodes).

A values override of a running cluster re-applies that one pack. Delete: nodes, then
infrastructure, then a sweep by ownership tag that must find nothing, then the cluster is gone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from strata_common.engine.model import StepSpec
from strata_common.model.cluster import (
    CONTROL_PLANE,
    DELETED,
    DELETING,
    DRAINING,
    RUNNING,
    ClusterSpec,
    Layer,
    Machine,
    NodeTemplate,
    Pool,
)  # fmt: skip

Q = "provisioner"
PACK_CONDITIONS = {"cni": "NetworkingReady", "csi": "StorageReady", "addon": "AddonsReady"}
# What the first node step waits for.
NODE_PREREQUISITES = ("ensure_image", "ensure_security_groups", "ensure_load_balancer", "ensure_cluster_secrets")
# Why a machine is retired (shown in its events).
TEMPLATE_CHANGED, SCALE_DOWN, POOL_REMOVED, ZONE_REMOVED, REBALANCE, UNHEALTHY = (
    "template changed", "scale-down", "pool removed", "zone removed", "rebalance", "unhealthy")  # fmt: skip


@dataclass
class Plan:
    """Steps, the machines to record before they run (`new`) and those to retire, with why."""

    steps: list[StepSpec] = field(default_factory=list)
    new: list[NodeTemplate] = field(default_factory=list)
    retire: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.steps]


@dataclass
class _PoolChange:
    """What one pool needs: (old machine, new node) pairs that replace, nodes added, machines removed."""

    replace: list[tuple[Machine, NodeTemplate]] = field(default_factory=list)
    unhealthy: list[tuple[Machine, NodeTemplate]] = field(default_factory=list)
    add: list[NodeTemplate] = field(default_factory=list)
    remove: list[Machine] = field(default_factory=list)
    resume: list[Machine] = field(default_factory=list)  # kept, but not Running yet: ensured again


def ensure_step(node: NodeTemplate, condition: str, after: Iterable[str]) -> StepSpec:
    """Launch a node and wait for it to join; on a running cluster (day-2 conditions) also to be Ready."""
    ready = condition not in ("ControlPlaneReady", "WorkersReady")
    return StepSpec(f"ensure_node/{node.name}", Q, condition, tuple(after), {**node.to_json(), "waitReady": ready})


def retire_step(machine: Machine, reason: str, condition: str, after: Iterable[str]) -> StepSpec:
    return StepSpec(f"retire_node/{machine.name}", Q, condition, tuple(after), {"reason": reason})


def _pick_zone(counts: Counter[str], zones: tuple[str, ...]) -> str:
    zone = min(zones, key=lambda z: (counts[z], zones.index(z)))
    counts[zone] += 1
    return zone


def _pool_change(
    spec: ClusterSpec, pool: Pool, mine: list[Machine], ordinals: Iterable[int], unhealthy: frozenset[str], plan: Plan,
    init: bool,
) -> _PoolChange:  # fmt: skip
    """Diff one pool's desired shape against its machines (those not already leaving). With `init`, the
    pool's first new node initialises the cluster."""
    want = spec.template_hash(pool)
    next_ordinal = max(ordinals, default=-1) + 1
    change = _PoolChange()
    leaving: dict[str, tuple[Machine, str]] = {}
    for m in mine:
        if m.name in unhealthy:
            leaving[m.name] = (m, UNHEALTHY)
        elif m.zone not in pool.zones:
            leaving[m.name] = (m, ZONE_REMOVED)
    keep = [m for m in mine if m.name not in leaving]
    stale = lambda m: m.template_hash != want  # noqa: E731
    while len(keep) > pool.count:  # scale down: the fullest zone first; not Running, stale, newest first
        zones = Counter(m.zone for m in keep)
        victim = max(keep, key=lambda m: (zones[m.zone], m.phase != RUNNING, stale(m), m.ordinal))
        keep.remove(victim)
        change.remove.append(victim)
        plan.retire[victim.name] = SCALE_DOWN
    if pool.rebalance:
        while True:
            zones = Counter(m.zone for m in keep)
            full, empty = max(pool.zones, key=lambda z: zones[z]), min(pool.zones, key=lambda z: zones[z])
            if zones[full] - zones[empty] <= 1:
                break
            moved = max((m for m in keep if m.zone == full), key=lambda m: (stale(m), m.ordinal))
            keep.remove(moved)
            leaving[moved.name] = (moved, REBALANCE)
    for m in keep:
        if stale(m):
            leaving[m.name] = (m, TEMPLATE_CHANGED)
    staying = [m for m in keep if m.name not in leaving]
    change.resume = [m for m in staying if m.phase != RUNNING]
    counts = Counter(m.zone for m in staying)

    def new_node(zone: str | None) -> NodeTemplate:
        nonlocal next_ordinal
        if zone is None:
            zone = _pick_zone(counts, pool.zones)
        else:
            counts[zone] += 1
        node = NodeTemplate(pool.name, pool.role, next_ordinal, zone, pool.instance_type, pool.disk_gib,
                            init=init and not plan.new, template_hash=want)  # fmt: skip
        next_ordinal += 1
        plan.new.append(node)
        return node

    for m, reason in leaving.values():
        plan.retire[m.name] = reason
        pair = (m, new_node(m.zone if reason in (TEMPLATE_CHANGED, UNHEALTHY) else None))
        (change.unhealthy if reason == UNHEALTHY else change.replace).append(pair)
    while len(staying) + len(leaving) + len(change.add) < pool.count:
        change.add.append(new_node(None))
    return change


def _rolling(pairs: list[tuple[Machine, NodeTemplate]], pool: Pool, condition: str, barrier: tuple[str, ...],
             reason: dict[str, str]) -> list[StepSpec]:  # fmt: skip
    """Replacement of `pairs` in batches honouring the pool's maxSurge and maxUnavailable, after `barrier`."""
    out: list[StepSpec] = []
    size, surge, unavailable = pool.rollout.batch, pool.rollout.max_surge, pool.rollout.max_unavailable
    for start in range(0, len(pairs), size):
        batch = pairs[start : start + size]
        first_out = batch[: min(unavailable, len(batch))]
        early = [retire_step(old, reason[old.name], condition, barrier) for old, _ in first_out]
        news = [ensure_step(new, condition, barrier if j < surge else [s.name for s in early])
                for j, (_, new) in enumerate(batch)]  # fmt: skip
        late = [retire_step(old, reason[old.name], condition, [s.name for s in news]) for old, _ in batch[len(early) :]]
        out += early + news + late
        barrier = tuple(s.name for s in early + news + late)
    return out


def _live(machines: Iterable[Machine]) -> list[Machine]:
    return [m for m in machines if m.phase != DELETED]


def plan_cluster(spec: ClusterSpec, machines: Iterable[Machine] = (), unhealthy: Iterable[str] = ()) -> Plan:
    """Steps that bring a cluster to its spec from the machines it has (none: a cluster being created)."""
    if spec.deleting and spec.force:  # one sweep that records what the cloud does not let it delete, then gone
        return Plan([StepSpec("force_sweep", Q, "Ready"), StepSpec("finalize_delete", Q, "Ready", ("force_sweep",))])
    if spec.deleting:
        return Plan([
            StepSpec("delete_nodes", Q, "Ready"),
            StepSpec("delete_infrastructure", Q, "Ready", ("delete_nodes",)),
            StepSpec("sweep", Q, "Ready", ("delete_infrastructure",)),
            StepSpec("finalize_delete", Q, "Ready", ("sweep",)),
        ])  # fmt: skip
    machines = list(machines)
    plan = Plan()
    live = _live(machines)
    updating = any(m.phase == RUNNING for m in live)
    infrastructure = [
        StepSpec("ensure_image", "imagebuilder", "ImageReady"),
        StepSpec("ensure_network", Q, "InfrastructureReady"),
        StepSpec("ensure_security_groups", Q, "InfrastructureReady", ("ensure_network",)),
        StepSpec("ensure_load_balancer", Q, "InfrastructureReady", ("ensure_security_groups",)),
        StepSpec("ensure_cluster_secrets", Q, "InfrastructureReady"),
    ]
    leaving = [m for m in live if m.phase in (DRAINING, DELETING)]  # cordoned already: they go on leaving
    candidates = [m for m in live if m.phase not in (DRAINING, DELETING)]
    ordinals: dict[str, list[int]] = {}
    for m in machines:
        ordinals.setdefault(m.pool, []).append(m.ordinal)
    # The first new control-plane node initialises the cluster unless a control-plane machine has or will.
    init = not any(m.role == CONTROL_PLANE and (m.phase == RUNNING or m.template.init) for m in live)
    changes: dict[str, _PoolChange] = {}
    for pool in sorted(spec.pools, key=lambda p: p.role != CONTROL_PLANE):
        mine = [m for m in candidates if m.pool == pool.name]
        changes[pool.name] = _pool_change(spec, pool, mine, ordinals.get(pool.name, ()), frozenset(unhealthy), plan,
                                          init and pool.role == CONTROL_PLANE)  # fmt: skip
    wanted_pools = {p.name for p in spec.pools}
    removed = [m for m in candidates if m.pool not in wanted_pools]
    for m in removed:
        plan.retire[m.name] = POOL_REMOVED
    for m in leaving:  # the reason the plan that started it gave
        plan.retire[m.name] = m.retire_reason or SCALE_DOWN

    control_condition = "ControlPlaneUpdated" if updating else "ControlPlaneReady"
    nodes: list[StepSpec] = [retire_step(m, plan.retire[m.name], control_condition if m.role == CONTROL_PLANE
                                         else "WorkersScaled", ()) for m in leaving]  # fmt: skip
    chain: tuple[str, ...] = NODE_PREREQUISITES
    for pool in spec.pools:
        if pool.role != CONTROL_PLANE:
            continue
        change = changes[pool.name]
        sequence: list[StepSpec] = []
        for m in change.resume:
            sequence.append(ensure_step(m.template, control_condition, ()))
        for m in change.remove:
            sequence.append(retire_step(m, SCALE_DOWN, control_condition, ()))
        for old, new in change.unhealthy:
            sequence += [retire_step(old, UNHEALTHY, control_condition, ()), ensure_step(new, control_condition, ())]
        for old, new in change.replace:
            sequence += [ensure_step(new, control_condition, ()), retire_step(old, plan.retire[old.name],
                                                                               control_condition, ())]  # fmt: skip
        for new in change.add:
            sequence.append(ensure_step(new, control_condition, ()))
        for step in sequence:  # one at a time
            nodes.append(replace(step, depends_on=chain))
            chain = (step.name,)
    for pool in spec.pools:
        if pool.role == CONTROL_PLANE:
            continue
        change = changes[pool.name]
        scaled = "WorkersScaled" if updating else "WorkersReady"
        nodes += [ensure_step(m.template, scaled, chain) for m in change.resume]
        nodes += [ensure_step(n, scaled, chain) for n in change.add]
        nodes += [retire_step(m, SCALE_DOWN, "WorkersScaled", chain) for m in change.remove]
        nodes += [s for old, new in change.unhealthy for s in (
            retire_step(old, UNHEALTHY, "NodesHealthy", chain), ensure_step(new, "NodesHealthy", chain))]  # fmt: skip
        nodes += _rolling(change.replace, pool, "WorkersReplaced" if updating else "WorkersReady", chain, plan.retire)
    nodes += [retire_step(m, POOL_REMOVED, "WorkersScaled", chain) for m in removed]
    after = tuple(s.name for s in nodes) or NODE_PREREQUISITES
    # the agent installed (pull mode) or removed (push mode) before the packs: who applies them
    packs = [StepSpec("ensure_agent", "addons", PACK_CONDITIONS["cni"], after)]
    after = ("ensure_agent",)
    for layer in spec.layers:
        if layer.layer in PACK_CONDITIONS:
            packs.append(pack_step(layer, after))
            after = (packs[-1].name,)
    packs.append(StepSpec("prune_packs", "addons", "AddonsReady", after))
    scan = StepSpec("scan_cluster", Q, "Scanned", ("prune_packs",), {"trigger": "update" if updating else "create"})
    final = StepSpec("finalize_update" if updating else "finalize_create", Q, "Ready", ("scan_cluster",))
    plan.steps = [*infrastructure, *nodes, *packs, scan, final]
    return plan


def pack_step(layer: Layer, after: tuple[str, ...] = ()) -> StepSpec:
    """The step that applies one pack layer and waits for its workloads."""
    return StepSpec(f"ensure_pack/{layer.pack}", "addons", PACK_CONDITIONS[layer.layer], after, {"pack": layer.pack})


def plan_override(spec: ClusterSpec, pack: str, running: bool, machines: Iterable[Machine] = ()) -> Plan:
    """After a values override: a running cluster re-applies that pack alone; one still being created
    gets its whole plan again (what exists is found, and the pack is applied with the new values)."""
    layer = spec.pack(pack)
    if not running or layer is None:
        return plan_cluster(spec, machines)
    return Plan([pack_step(layer)])
