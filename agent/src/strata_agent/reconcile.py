"""What the agent does to its cluster: apply the desired packs by server-side apply under its own field
manager (forced: the cluster's desired state wins), prune what a pack or the profile no longer declares
(by the packs' inventories, as the add-ons service keeps them), look at the workloads, apply again what
changed out of band (drift), and read the Nodes."""

from __future__ import annotations

from typing import Any

from strata_common.kube.agent_pack import AGENT_MANAGER as MANAGER
from strata_common.kube.client import KubeClient, condition_true
from strata_common.kube.inventory import apply_pack, reapply_drifted, remove_packs, with_namespace
from strata_common.kube.readiness import WORKLOADS, not_ready


class Reconciler:
    def __init__(self, client: KubeClient):
        self.client = client

    def apply(self, desired: dict[str, Any]) -> list[str]:
        """Apply every pack in order and prune: the keys of the objects created, changed or deleted."""
        touched: list[str] = []
        for pack in desired["packs"]:
            changed, pruned = apply_pack(
                self.client, pack["pack"], pack["version"], pack["objects"],
                lambda obj: self.client.apply(with_namespace(self.client, obj), MANAGER, force=True), MANAGER,
            )  # fmt: skip
            touched += changed + pruned
        for deleted in remove_packs(self.client, {pack["pack"] for pack in desired["packs"]}).values():
            touched += deleted
        return touched

    def states(self, desired: dict[str, Any]) -> list[dict[str, str]]:
        """Each pack `applied` (its workloads available), `progressing` or `failed` (waiting will not help)."""
        states = []
        for pack in desired["packs"]:
            waiting = [w for obj in pack["objects"] if obj["kind"] in WORKLOADS and (w := not_ready(self.client, obj))]
            stuck = [w.message for w in waiting if w.stuck]
            state = "failed" if stuck else "progressing" if waiting else "applied"
            states.append({"pack": pack["pack"], "state": state,
                           "message": "; ".join(stuck or [w.message for w in waiting])[:2000]})  # fmt: skip
        return states

    def drift(self, desired: dict[str, Any]) -> list[str]:
        """Apply again each declared object that was deleted or whose declared fields changed; which."""
        return reapply_drifted(self.client, [obj for pack in desired["packs"] for obj in pack["objects"]], MANAGER)

    def nodes(self) -> list[dict[str, Any]]:
        return [{"name": node["metadata"]["name"], "ready": condition_true(node)}
                for node in self.client.list("v1", "Node")]  # fmt: skip
