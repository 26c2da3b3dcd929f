"""The cluster spec as stored in clusters.spec: typed, frozen, and round-tripping its JSON exactly.

The JSON keeps the API's camelCase names (`instanceType`, `diskGiB`, `packId`, `cloudAccount`), so
rows written before these types existed read back unchanged.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

CONTROL_PLANE = "controlPlane"
WORKER = "worker"
PACK_LAYERS = ("cni", "csi", "addon")  # the layers the add-ons service applies
PUSH, PULL = "push", "pull"  # who applies the packs: the add-ons service, or the agent in the cluster
AGENT_TIMEOUT_SECONDS = 300.0  # a pull cluster's agent silent this long: AgentConnected False


@dataclass(frozen=True)
class Management:
    """How a cluster's add-ons reach it: `push` (the add-ons service applies them through the cluster's
    API) or `pull` (its agent pulls and applies them; AgentConnected False after `agent_timeout` silent)."""

    mode: str = PUSH
    agent_timeout: float = AGENT_TIMEOUT_SECONDS

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Management:
        data = data or {}
        return cls(data.get("mode", PUSH), float(data.get("agentTimeout", AGENT_TIMEOUT_SECONDS)))

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "agentTimeout": self.agent_timeout}


@dataclass(frozen=True)
class Rollout:
    """How a pool's nodes are replaced: at most `max_surge` nodes above the count, at most
    `max_unavailable` below it (Kubernetes' Deployment and Cluster API's MachineDeployment words)."""

    max_surge: int = 1
    max_unavailable: int = 0

    @property
    def batch(self) -> int:
        return max(1, self.max_surge + self.max_unavailable)


@dataclass(frozen=True)
class Pool:
    """A machine pool. The day-2 settings are optional in the JSON and written only when set:
    `rollout`, `drainTimeoutSeconds` and `unhealthyTimeoutSeconds` (None: the service's default),
    `maxUnhealthy` (a count or "N%" of the pool), `rebalance` (move nodes when zones are added)."""

    name: str
    role: str
    count: int
    instance_type: str
    zones: tuple[str, ...]
    disk_gib: int = 40
    rollout: Rollout = Rollout()
    drain_timeout: float | None = None
    unhealthy_timeout: float | None = None
    max_unhealthy: int | str = "40%"
    rebalance: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pool:
        rollout = data.get("rollout") or {}
        return cls(data["name"], data["role"], data["count"], data["instanceType"], tuple(data["zones"]),
                   data.get("diskGiB", 40), Rollout(rollout.get("maxSurge", 1), rollout.get("maxUnavailable", 0)),
                   data.get("drainTimeoutSeconds"), data.get("unhealthyTimeoutSeconds"),
                   data.get("maxUnhealthy", "40%"), bool(data.get("rebalance")))  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        data = {"name": self.name, "role": self.role, "count": self.count, "instanceType": self.instance_type,
                "zones": list(self.zones), "diskGiB": self.disk_gib}  # fmt: skip
        if self.rollout != Rollout():
            data["rollout"] = {"maxSurge": self.rollout.max_surge, "maxUnavailable": self.rollout.max_unavailable}
        optional = {"drainTimeoutSeconds": (self.drain_timeout, None),
                    "unhealthyTimeoutSeconds": (self.unhealthy_timeout, None),
                    "maxUnhealthy": (self.max_unhealthy, "40%"), "rebalance": (self.rebalance, False)}  # fmt: skip
        data.update({key: value for key, (value, default) in optional.items() if value != default})
        return data

    def unhealthy_limit(self) -> int:
        """How many of the pool's nodes may be replaced as unhealthy at once."""
        if isinstance(self.max_unhealthy, str):
            return int(self.count * int(self.max_unhealthy.rstrip("%")) / 100)
        return self.max_unhealthy


@dataclass(frozen=True)
class Layer:
    """One pack of the profile revision, resolved to the pack row it names."""

    pack: str
    version: str
    layer: str
    pack_id: str
    digest: str
    values: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Layer:
        return cls(data["pack"], data["version"], data["layer"], data["packId"], data["digest"],
                   data.get("values") or "")  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {"pack": self.pack, "version": self.version, "layer": self.layer, "packId": self.pack_id,
                "digest": self.digest, "values": self.values}  # fmt: skip


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    profile_id: str
    profile_revision: int
    layers: tuple[Layer, ...]
    cloud_account: str
    cloud_type: str
    region: str
    pools: tuple[Pool, ...]
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleting: bool = False
    force: bool = False  # a force delete: one sweep, then gone, whatever the cloud leaves
    management: Management = Management()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClusterSpec:
        return cls(
            name=data["name"],
            profile_id=data["profile"]["id"],
            profile_revision=data["profile"]["revision"],
            layers=tuple(Layer.from_json(layer) for layer in data["layers"]),
            cloud_account=data["cloudAccount"],
            cloud_type=data["cloudType"],
            region=data["cloud"]["region"],
            pools=tuple(Pool.from_json(pool) for pool in data["pools"]),
            overrides=data.get("overrides") or {},
            deleting=bool(data.get("deleting")),
            force=bool(data.get("force")),
            management=Management.from_json(data.get("management")),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "profile": {"id": self.profile_id, "revision": self.profile_revision},
            "layers": [layer.to_json() for layer in self.layers],
            "cloudAccount": self.cloud_account,
            "cloudType": self.cloud_type,
            "cloud": {"region": self.region},
            "pools": [pool.to_json() for pool in self.pools],
        }
        if self.overrides:
            data["overrides"] = self.overrides
        if self.deleting:
            data["deleting"] = True
        if self.force:
            data["force"] = True
        if self.management != Management():
            data["management"] = self.management.to_json()
        return data

    @property
    def pulled(self) -> bool:
        """Its agent applies its add-ons (pull mode)."""
        return self.management.mode == PULL

    def layer_of(self, kind: str) -> Layer:
        """The layer of `kind` (os, k8s): a valid profile has exactly one."""
        return next(layer for layer in self.layers if layer.layer == kind)

    def pack(self, name: str) -> Layer | None:
        return next((layer for layer in self.layers if layer.pack == name), None)

    def pool(self, name: str) -> Pool | None:
        return next((pool for pool in self.pools if pool.name == name), None)

    def template_hash(self, pool: Pool) -> str:
        """What a node of `pool` is made from: the OS and Kubernetes packs with their values (the image's
        signature and the kubeadm configuration follow from them), instance type and disk. A node whose
        hash differs from its pool's is replaced."""
        made_of = {
            "os": self.layer_of("os").to_json(),
            "k8s": self.layer_of("k8s").to_json(),
            "instanceType": pool.instance_type,
            "diskGiB": pool.disk_gib,
        }
        return hashlib.sha256(json.dumps(made_of, sort_keys=True).encode()).hexdigest()[:16]

    def kubernetes_version(self) -> str:
        return self.layer_of("k8s").version

    def zones(self) -> list[str]:
        return sorted({zone for pool in self.pools for zone in pool.zones})

    def with_overrides(self, overrides: dict[str, dict[str, Any]]) -> ClusterSpec:
        return replace(self, overrides=overrides)

    def for_revision(self, profile_id: str, revision: int, layers: tuple[Layer, ...]) -> ClusterSpec:
        return replace(self, profile_id=profile_id, profile_revision=revision, layers=layers)

    def with_pools(self, pools: tuple[Pool, ...]) -> ClusterSpec:
        return replace(self, pools=pools)

    def with_management(self, management: Management) -> ClusterSpec:
        return replace(self, management=management)

    def for_delete(self, force: bool = False) -> ClusterSpec:
        return replace(self, deleting=True, force=force)


@dataclass(frozen=True)
class NodeTemplate:
    """One node as its step launches it: the planner decides everything, including which control-plane
    node initialises the cluster (`init`); the others join. `index` is the machine's ordinal in its
    pool, never reused, so the name is the machine's for its whole life."""

    pool: str
    role: str
    index: int
    zone: str
    instance_type: str
    disk_gib: int = 40
    init: bool = False
    template_hash: str = ""

    @property
    def name(self) -> str:
        return f"{self.pool}-{self.index}"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeTemplate:
        return cls(data["pool"], data["role"], data["index"], data["zone"], data["instanceType"],
                   data.get("diskGiB", 40), bool(data.get("init")), data.get("templateHash", ""))  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {"pool": self.pool, "role": self.role, "index": self.index, "zone": self.zone,
                "instanceType": self.instance_type, "diskGiB": self.disk_gib, "init": self.init,
                "templateHash": self.template_hash}  # fmt: skip


# Machine phases (Cluster API's words); Deleted rows stay so a name is never used twice.
PROVISIONING, RUNNING, DRAINING, DELETING, FAILED, DELETED = (
    "Provisioning", "Running", "Draining", "Deleting", "Failed", "Deleted")  # fmt: skip


@dataclass(frozen=True)
class Machine:
    """A machines row as the planner reads it: the node it launches (its name, pool, zone and template
    hash are the template's), its phase, and why a plan retires it."""

    template: NodeTemplate
    phase: str
    retire_reason: str | None = None

    @property
    def name(self) -> str:
        return self.template.name

    @property
    def template_hash(self) -> str:
        return self.template.template_hash

    @property
    def pool(self) -> str:
        return self.template.pool

    @property
    def zone(self) -> str:
        return self.template.zone

    @property
    def role(self) -> str:
        return self.template.role

    @property
    def ordinal(self) -> int:
        return self.template.index

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Machine:
        return cls(NodeTemplate.from_json(row["template"]), row["phase"], row["retire_reason"])
