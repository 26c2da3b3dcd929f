"""What applying a pack would do to a cluster, as its API server works it out: each object Strata would
apply is read, and one that exists is applied with `dryRun=All` (server-side apply, nothing persisted), so
the answer holds the server's own merge, defaults and field ownership; objects in the pack's inventory it
no longer declares would be pruned."""

from __future__ import annotations

from typing import Any

from strata_common.kube.client import KubeClient, KubeError
from strata_common.kube.inventory import MANAGER, Version, object_key, parse_key, with_namespace

UNCOMPARED = ("managedFields", "resourceVersion", "generation")  # bookkeeping every apply may move


def described(key: str) -> dict[str, Any]:
    api_version, kind, namespace, name = parse_key(key)
    return {"apiVersion": api_version, "kind": kind, "namespace": namespace, "name": name}


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in UNCOMPARED}
    return {**{k: v for k, v in obj.items() if k not in ("metadata", "status")}, "metadata": meta}


def _scalar(value: Any) -> bool:
    return not isinstance(value, dict | list) or (isinstance(value, list) and all(map(_scalar, value)))


def _named(items: Any) -> bool:
    """A list merged by name (containers, env, ports, volumes...): each item a mapping with a distinct name."""
    names = [item.get("name") for item in items if isinstance(item, dict)] if isinstance(items, list) else []
    return len(names) == len(items) and None not in names and len(set(names)) == len(names)


def fields_diff(old: Any, new: Any, path: str = "") -> list[dict[str, Any]]:
    """Field by field, what turns `old` into `new`: mappings key by key, lists of named items by name
    (`containers[name=web].args`), other lists of mappings item by item when their length holds; a leaf
    (or a list of scalars) shows its old and new value, anything larger only that it changed."""
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        return [change for key in sorted(old.keys() | new.keys(), key=str)
                for change in _keyed(old, new, key, f"{path}.{key}" if path else str(key))]  # fmt: skip
    if _named(old) and _named(new):
        before, after = {i["name"]: i for i in old}, {i["name"]: i for i in new}
        return [change for name in [*before, *(n for n in after if n not in before)]
                for change in _keyed(before, after, name, f"{path}[name={name}]")]  # fmt: skip
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new) and not _scalar(old):
        return [change for index, (a, b) in enumerate(zip(old, new, strict=True))
                for change in fields_diff(a, b, f"{path}[{index}]")]  # fmt: skip
    if _scalar(old) and _scalar(new):
        return [{"path": path, "change": "changed", "old": old, "new": new}]
    return [{"path": path, "change": "changed"}]


def _keyed(old: dict[Any, Any], new: dict[Any, Any], key: Any, path: str) -> list[dict[str, Any]]:
    if key not in new:
        return [{"path": path, "change": "removed", **({"old": old[key]} if _scalar(old[key]) else {})}]
    if key not in old:
        return [{"path": path, "change": "added", **({"new": new[key]} if _scalar(new[key]) else {})}]
    return fields_diff(old[key], new[key], path)


def preview_pack(client: KubeClient, objects: list[dict[str, Any]], inventory: dict[str, Version]) -> dict[str, Any]:
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
        fields = fields_diff(_comparable(live), _comparable(would))
        if fields:
            change.append({**described(key), "fields": fields, **({"takesBack": taken} if taken else {})})
    prune = [described(key) for key in sorted(inventory) if key not in declared]
    return {"create": create, "change": change, "prune": prune,
            "unchanged": len(declared) - len(create) - len(change)}  # fmt: skip
