"""What Strata applied of each pack in a cluster: every object it applies carries the label
`strata.dev/pack`, and the pack's inventory (a ConfigMap `strata-pack-NAME` in kube-system) lists its
objects with the version Strata last applied, so a later apply knows what changed and what to delete."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from strata_common.kube.client import KubeClient, KubeError
from strata_common.packs.rendering import FIRST, PACK_LABEL

Version = int | str  # an object's generation, or "rv:" and its resourceVersion for a kind with no generation
MANAGER = "strata"  # Strata's field manager for server-side apply
INVENTORY_LABEL = "strata.dev/inventory"
INVENTORY_NAMESPACE = "kube-system"


def object_key(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return "|".join((obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"]))


def parse_key(key: str) -> tuple[str, str, str | None, str]:
    """(apiVersion, kind, namespace or None, name) of an object key."""
    api_version, kind, namespace, name = key.split("|")
    return api_version, kind, namespace or None, name


def applied_version(live: dict[str, Any]) -> Version:
    """What tells a later apply whether the object changed since: its generation where its kind keeps one
    (workloads, CRDs: a spec change bumps it, a status or metadata write does not), else its resourceVersion
    (a ConfigMap has no generation; an apply that changes nothing leaves the resourceVersion as it was)."""
    meta = live["metadata"]
    return meta["generation"] if "generation" in meta else f"rv:{meta.get('resourceVersion', '')}"


def read_inventory(client: KubeClient, pack: str) -> dict[str, Version]:
    """The pack's objects (by key) with the version Strata last applied; empty if never applied."""
    found = client.get("v1", "ConfigMap", INVENTORY_NAMESPACE, f"strata-pack-{pack}")
    return json.loads((found or {}).get("data", {}).get("objects", "{}"))


def inventories(client: KubeClient) -> dict[str, tuple[str, str, dict[str, Version]]]:
    """Every pack's inventory in the cluster: pack -> (ConfigMap name, pack version, objects)."""
    return {
        data["pack"]: (found["metadata"]["name"], data.get("version", ""), json.loads(data.get("objects", "{}")))
        for found in client.list("v1", "ConfigMap", INVENTORY_NAMESPACE, f"{INVENTORY_LABEL}=true")
        if (data := found.get("data") or {}).get("pack")
    }


def save_inventory(client: KubeClient, pack: str, version: str, objects: dict[str, Version],
                   manager: str = MANAGER) -> None:  # fmt: skip
    client.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"strata-pack-{pack}", "namespace": INVENTORY_NAMESPACE,
                         "labels": {INVENTORY_LABEL: "true", PACK_LABEL: pack}},
            "data": {"pack": pack, "version": version, "objects": json.dumps(objects, sort_keys=True)},
        },
        manager,
        force=True,
    )  # fmt: skip


def delete_objects(client: KubeClient, keys: list[str]) -> list[str]:
    """Delete these objects (namespaces and CRDs last); the keys of those that were there."""
    deleted = []
    for key in sorted(keys, key=lambda k: parse_key(k)[1] in FIRST):
        try:
            if client.delete(*parse_key(key)):
                deleted.append(key)
        except KubeError as err:
            if err.status != 404:
                raise
    return deleted


def declared_in(live: Any, declared: Any) -> bool:
    """Every field `declared` sets has that value in `live` (lists: the same length, item by item): what
    Strata applied is as it applied it, whatever the API server and others added."""
    if isinstance(declared, dict):
        return isinstance(live, dict) and all(declared_in(live.get(k), v) for k, v in declared.items())
    if isinstance(declared, list):
        return isinstance(live, list) and len(live) == len(declared) and all(map(declared_in, live, declared))
    return live == declared


def with_namespace(client: KubeClient, obj: dict[str, Any]) -> dict[str, Any]:
    """The object with namespace `default` if its kind is namespaced and it names none (as kubectl does)."""
    if not obj["metadata"].get("namespace") and client.resource(obj["apiVersion"], obj["kind"])[1]:
        obj["metadata"]["namespace"] = "default"
    return obj


def apply_pack(client: KubeClient, pack: str, version: str, objects: list[dict[str, Any]],
               apply_one: Callable[[dict[str, Any]], dict[str, Any]], manager: str = MANAGER,
               ) -> tuple[list[str], list[str]]:  # fmt: skip
    """Apply each of the pack's objects with `apply_one` (which answers the live object), delete what the
    pack's inventory holds and it no longer declares, and save the new inventory: the keys of the objects
    created or changed, and of those deleted."""
    before = read_inventory(client, pack)
    applied: dict[str, Version] = {}
    changed = []
    for obj in objects:
        key = object_key(obj)
        applied[key] = applied_version(apply_one(obj))
        if before.get(key) != applied[key]:
            changed.append(key)
    pruned = delete_objects(client, [k for k in before if k not in applied])
    save_inventory(client, pack, version, applied, manager)
    return changed, pruned


def remove_pack(client: KubeClient, pack: str) -> list[str]:
    """Delete the objects the pack's inventory holds, then the inventory: the keys deleted."""
    deleted = delete_objects(client, list(read_inventory(client, pack)))
    client.delete("v1", "ConfigMap", INVENTORY_NAMESPACE, f"strata-pack-{pack}")
    return deleted


def remove_packs(client: KubeClient, keep: set[str]) -> dict[str, list[str]]:
    """Delete the objects and the inventory of every pack not in `keep`: the keys deleted, per pack."""
    return {pack: remove_pack(client, pack) for pack in inventories(client) if pack not in keep}


def reapply_drifted(client: KubeClient, objects: list[dict[str, Any]], manager: str) -> list[str]:
    """Apply again (forced) each object that was deleted or whose declared fields changed: which, as
    "Kind namespace/name (deleted|changed)"."""
    corrected = []
    for obj in objects:
        meta = with_namespace(client, obj)["metadata"]
        live = client.get(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        if live is None or not declared_in(live, obj):
            client.apply(obj, manager, force=True)
            where = f"{meta['namespace']}/" if meta.get("namespace") else ""
            corrected.append(f"{obj['kind']} {where}{meta['name']} ({'deleted' if live is None else 'changed'})")
    return corrected
