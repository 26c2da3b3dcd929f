"""What applying a pack would do to a cluster, as its API server works it out: each object Strata would
apply is read, and one that exists is applied with `dryRun=All` (server-side apply, nothing persisted), so
the answer holds the server's own merge, defaults and field ownership; objects in the pack's inventory it
no longer declares would be pruned."""

from __future__ import annotations

from typing import Any

from strata_common.kube.client import KubeClient, KubeError
from strata_common.kube.inventory import MANAGER, object_key, parse_key, with_namespace
from strata_common.packs.updates import ValueChange, values_diff

UNCOMPARED = ("managedFields", "resourceVersion", "generation")  # bookkeeping every apply may move


def described(key: str) -> dict[str, Any]:
    api_version, kind, namespace, name = parse_key(key)
    return {"apiVersion": api_version, "kind": kind, "namespace": namespace, "name": name}


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in UNCOMPARED}
    return {**{k: v for k, v in obj.items() if k not in ("metadata", "status")}, "metadata": meta}


def _shown(change: ValueChange) -> dict[str, Any]:
    """A field's change, with its old and new values when they are scalars (a list says only that it changed)."""
    scalar = all(not isinstance(v, list | dict) for v in (change.old, change.new))
    return change.to_json() if scalar else {"path": change.path, "change": change.change}


def preview_pack(client: KubeClient, objects: list[dict[str, Any]], inventory: dict[str, int]) -> dict[str, Any]:
    """The objects applying `objects` would create, change (field by field) and prune (those of `inventory`
    not declared any more), and how many it would leave as they are."""
    create: list[dict[str, Any]] = []
    change: list[dict[str, Any]] = []
    declared = set()
    for obj in objects:
        try:
            obj = with_namespace(client, obj)
        except KubeError as err:
            if err.status != 404:
                raise
            declared.add(object_key(obj))  # a kind the cluster does not serve yet: a CRD of the pack defines it
            create.append(described(object_key(obj)))
            continue
        key = object_key(obj)
        declared.add(key)
        meta = obj["metadata"]
        live = client.get(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        if live is None:
            create.append(described(key))
            continue
        taken: list[str] = []
        try:
            would = client.apply(obj, MANAGER, dry_run=True)
        except KubeError as err:
            if err.status != 409:
                raise
            taken = err.causes  # changed outside Strata: the apply takes these fields back
            would = client.apply(obj, MANAGER, force=True, dry_run=True)
        fields = [_shown(c) for c in values_diff(_comparable(live), _comparable(would))]
        if fields:
            change.append({**described(key), "fields": fields, **({"takesBack": taken} if taken else {})})
    prune = [described(key) for key in sorted(inventory) if key not in declared]
    return {"create": create, "change": change, "prune": prune,
            "unchanged": len(declared) - len(create) - len(change)}  # fmt: skip
