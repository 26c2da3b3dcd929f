"""The cluster spec as stored in clusters.spec: typed, frozen, and round-tripping its JSON exactly.

The JSON keeps the API's camelCase names (`instanceType`, `diskGiB`, `packId`, `cloudAccount`), so
rows written before these types existed read back unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

CONTROL_PLANE = "controlPlane"
WORKER = "worker"
PACK_LAYERS = ("cni", "csi", "addon")  # the layers the add-ons service applies


@dataclass(frozen=True)
class Pool:
    name: str
    role: str
    count: int
    instance_type: str
    zones: tuple[str, ...]
    disk_gib: int = 40

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pool:
        return cls(data["name"], data["role"], data["count"], data["instanceType"], tuple(data["zones"]),
                   data.get("diskGiB", 40))  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "count": self.count, "instanceType": self.instance_type,
                "zones": list(self.zones), "diskGiB": self.disk_gib}  # fmt: skip


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
        return data

    def layer_of(self, kind: str) -> Layer:
        """The layer of `kind` (os, k8s): a valid profile has exactly one."""
        return next(layer for layer in self.layers if layer.layer == kind)

    def pack(self, name: str) -> Layer | None:
        return next((layer for layer in self.layers if layer.pack == name), None)

    def zones(self) -> list[str]:
        return sorted({zone for pool in self.pools for zone in pool.zones})

    def with_overrides(self, overrides: dict[str, dict[str, Any]]) -> ClusterSpec:
        return replace(self, overrides=overrides)

    def for_revision(self, profile_id: str, revision: int, layers: tuple[Layer, ...]) -> ClusterSpec:
        return replace(self, profile_id=profile_id, profile_revision=revision, layers=layers)

    def for_delete(self) -> ClusterSpec:
        return replace(self, deleting=True)


@dataclass(frozen=True)
class NodeTemplate:
    """One node as its step launches it: the planner decides everything, including which control-plane
    node initialises the cluster (`init`); the others join."""

    pool: str
    role: str
    index: int
    zone: str
    instance_type: str
    disk_gib: int = 40
    init: bool = False

    @property
    def name(self) -> str:
        return f"{self.pool}-{self.index}"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeTemplate:
        return cls(data["pool"], data["role"], data["index"], data["zone"], data["instanceType"],
                   data.get("diskGiB", 40), bool(data.get("init")))  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {"pool": self.pool, "role": self.role, "index": self.index, "zone": self.zone,
                "instanceType": self.instance_type, "diskGiB": self.disk_gib, "init": self.init}  # fmt: skip
