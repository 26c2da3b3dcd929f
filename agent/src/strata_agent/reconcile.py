"""What the agent does to its cluster: apply the desired packs by server-side apply under its own field
manager (forced: the cluster's desired state wins), prune what a pack or the profile no longer declares
(by the packs' inventories, as the add-ons service keeps them), look at the workloads, apply again what
changed out of band (drift), and read the Nodes."""

from __future__ import annotations

from typing import Any

from strata_common.kube.agent_pack import AGENT_MANAGER as MANAGER
from strata_common.kube.client import KubeClient, condition_true
from strata_common.kube.inventory import (
    INVENTORY_NAMESPACE,
    applied_version,
    declared_in,
    delete_objects,
    inventories,
    object_key,
    read_inventory,
    save_inventory,
    with_namespace,
)
from strata_common.kube.readiness import WORKLOADS, not_ready


class Reconciler:
    def __init__(self, client: KubeClient):
        self.client = client

    def apply(self, desired: dict[str, Any]) -> list[str]:
        """Apply every pack in order and prune: the keys of the objects created, changed or deleted."""
        touched: list[str] = []
        for pack in desired["packs"]:
            before = read_inventory(self.client, pack["pack"])
            applied = {}
            for obj in pack["objects"]:
                live = self.client.apply(with_namespace(self.client, obj), MANAGER, force=True)
                key = object_key(obj)
                applied[key] = applied_version(live)
                if before.get(key) != applied[key]:
                    touched.append(key)
            touched += delete_objects(self.client, [k for k in before if k not in applied])
            save_inventory(self.client, pack["pack"], pack["version"], applied, MANAGER)
        keep = {pack["pack"] for pack in desired["packs"]}
        for pack, (name, _, objects) in inventories(self.client).items():
            if pack not in keep:  # the profile no longer has it
                touched += delete_objects(self.client, list(objects))
                self.client.delete("v1", "ConfigMap", INVENTORY_NAMESPACE, name)
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
        corrected = []
        for pack in desired["packs"]:
            for obj in pack["objects"]:
                meta = with_namespace(self.client, obj)["metadata"]
                live = self.client.get(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
                if live is None or not declared_in(live, obj):
                    self.client.apply(obj, MANAGER, force=True)
                    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
                    corrected.append(
                        f"{obj['kind']} {where}{meta['name']} ({'deleted' if live is None else 'changed'})"
                    )
        return corrected

    def nodes(self) -> list[dict[str, Any]]:
        return [{"name": node["metadata"]["name"], "ready": condition_true(node)}
                for node in self.client.list("v1", "Node")]  # fmt: skip
