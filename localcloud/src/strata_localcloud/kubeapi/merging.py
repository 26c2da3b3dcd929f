"""How objects change: JSON merge patch, JSON patch, strategic merge patch, and server-side apply's
field ownership (managedFields as FieldsV1).

Lists are merged by key where Kubernetes declares a merge key (containers by name, ports by port,
...); other lists are atomic. A field path is a tuple of FieldsV1 steps: "f:name" for a map key,
'k:{"name":"x"}' for an item of a keyed list.
"""

from __future__ import annotations

import copy
import json
from typing import Any

Path = tuple[str, ...]
# Keyed lists: field name -> the key(s) of its items (x-kubernetes-list-map-keys / patchMergeKey).
LIST_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",), "initContainers": ("name",), "ephemeralContainers": ("name",), "env": ("name",),
    "volumes": ("name",), "volumeMounts": ("mountPath",), "imagePullSecrets": ("name",), "conditions": ("type",),
    "hostAliases": ("ip",), "volumeDevices": ("devicePath",), "ownerReferences": ("uid",),
}  # fmt: skip
METADATA_SYSTEM = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink",
                   "deletionTimestamp", "name", "namespace")  # fmt: skip


class PatchError(ValueError):
    """A patch that cannot be applied (bad shape, failed test operation)."""


def list_keys(field: str, items: list[Any]) -> tuple[str, ...] | None:
    """The merge key of list `field`, or None if the list is atomic."""
    if not items or not all(isinstance(i, dict) for i in items):
        return LIST_KEYS.get(field) if field in LIST_KEYS and not items else None
    if field == "ports":
        return ("containerPort", "protocol") if "containerPort" in items[0] else ("port", "protocol")
    keys = LIST_KEYS.get(field)
    return keys if keys and all(keys[0] in i for i in items) else None


def _item_key(item: dict[str, Any], keys: tuple[str, ...]) -> str:
    ident = {k: item.get(k, "TCP" if k == "protocol" else None) for k in keys}
    return "k:" + json.dumps(ident, separators=(",", ":"), sort_keys=True)


def _keyed(items: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    return {_item_key(item, keys): item for item in items}


# ---- field sets -------------------------------------------------------------------------------------


def field_paths(obj: dict[str, Any], prefix: Path = ()) -> set[Path]:
    """The leaf paths an object sets (system metadata and status left out at the top)."""
    paths: set[Path] = set()
    for key, value in obj.items():
        if not prefix and key in ("status", "apiVersion", "kind"):
            continue
        if prefix == ("f:metadata",) and key in METADATA_SYSTEM:
            continue
        path = (*prefix, f"f:{key}")
        if isinstance(value, dict) and value:
            paths |= field_paths(value, path)
        elif isinstance(value, list) and (keys := list_keys(key, value)) and value:
            for ident, item in _keyed(value, keys).items():
                paths.add((*path, ident, "."))
                paths |= field_paths(item, (*path, ident))
        else:
            paths.add(path)
    return paths


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for step in path:
            node = node.setdefault(step, {})
    return tree


def from_fields_v1(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for step, sub in tree.items():
        path = (*prefix, step)
        paths |= from_fields_v1(sub, path) if sub else {path}
    return paths


def value_at(obj: Any, path: Path) -> Any:
    """The value at a field path, or a sentinel _MISSING."""
    node = obj
    for step in path:
        if step == ".":
            return node
        if step.startswith("f:") and isinstance(node, dict):
            if step[2:] not in node:
                return _MISSING
            node = node[step[2:]]
        elif step.startswith("k:") and isinstance(node, list):
            keys = tuple(json.loads(step[2:]))
            node = _keyed([x for x in node if isinstance(x, dict)], keys).get(step) if keys else None
            if node is None:
                return _MISSING
        else:
            return _MISSING
    return node


_MISSING = object()


def remove_path(obj: dict[str, Any], path: Path) -> None:
    """Delete the field (or keyed list item) at `path`; then drop maps and lists it left empty."""
    if path and path[-1] == ".":
        path = path[:-1]
    parent = value_at(obj, path[:-1]) if len(path) > 1 else obj
    last = path[-1]
    if isinstance(parent, dict) and last.startswith("f:"):
        parent.pop(last[2:], None)
    elif isinstance(parent, list) and last.startswith("k:"):
        keys = tuple(json.loads(last[2:]))
        parent[:] = [x for x in parent if not (isinstance(x, dict) and _item_key(x, keys) == last)]
    if len(path) > 1 and parent in ({}, []):
        remove_path(obj, path[:-1])


# ---- merges -----------------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: maps merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    """Kubernetes' strategic merge patch: like a merge patch, but keyed lists merge item by item;
    `$patch: replace|delete` directives on maps and list items; other `$` directives are ignored."""
    if isinstance(patch, dict):
        directive = patch.get("$patch")
        clean = {k: v for k, v in patch.items() if not k.startswith("$")}
        if directive == "replace":
            return copy.deepcopy(clean)
        if directive == "delete":
            return None
        result = dict(target) if isinstance(target, dict) else {}
        for key, value in clean.items():
            if value is None:
                result.pop(key, None)
            else:
                merged = strategic_merge(result.get(key), value, key)
                if merged is None:
                    result.pop(key, None)
                else:
                    result[key] = merged
        return result
    if isinstance(patch, list):
        if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
            return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
        keys = list_keys(field, [i for i in patch if isinstance(i, dict)] or [{}]) if field else None
        if not keys or not isinstance(target, list):
            return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and i.get("$patch") == "delete")]
        merged = [dict(i) if isinstance(i, dict) else i for i in target]
        index = {_item_key(i, keys): n for n, i in enumerate(merged) if isinstance(i, dict)}
        for item in patch:
            ident = _item_key(item, keys)
            if item.get("$patch") == "delete":
                merged = [i for i in merged if not (isinstance(i, dict) and _item_key(i, keys) == ident)]
                index = {_item_key(i, keys): n for n, i in enumerate(merged) if isinstance(i, dict)}
            elif ident in index:
                merged[index[ident]] = strategic_merge(merged[index[ident]], item)
            else:
                index[ident] = len(merged)
                merged.append(strategic_merge({}, item))
        return merged
    return copy.deepcopy(patch)


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch: add, remove, replace, move, copy, test."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)

    def split(pointer: str) -> list[str]:
        if pointer and not pointer.startswith("/"):
            raise PatchError(f"invalid JSON pointer {pointer!r}")
        return [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]

    def walk(parts: list[str]) -> Any:
        node = doc
        for part in parts:
            try:
                node = node[int(part)] if isinstance(node, list) else node[part]
            except (KeyError, IndexError, ValueError):
                raise PatchError(f"path /{'/'.join(parts)} does not exist") from None
        return node

    def put(parts: list[str], value: Any, replace: bool) -> None:
        parent, last = walk(parts[:-1]), parts[-1]
        if isinstance(parent, list):
            at = len(parent) if last == "-" else int(last)
            if replace:
                parent[at] = value
            else:
                parent.insert(at, value)
        elif isinstance(parent, dict):
            if replace and last not in parent:
                raise PatchError(f"path /{'/'.join(parts)} does not exist")
            parent[last] = value
        else:
            raise PatchError(f"path /{'/'.join(parts[:-1])} is not a container")

    def take(parts: list[str]) -> Any:
        parent, last = walk(parts[:-1]), parts[-1]
        value = walk(parts)
        if isinstance(parent, list):
            parent.pop(int(last))
        else:
            parent.pop(last)
        return value

    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError("each JSON patch operation needs op and path")
        parts = split(op["path"])
        if op["op"] == "add":
            put(parts, copy.deepcopy(op.get("value")), replace=False)
        elif op["op"] == "replace":
            put(parts, copy.deepcopy(op.get("value")), replace=True)
        elif op["op"] == "remove":
            take(parts)
        elif op["op"] in ("move", "copy"):
            source = split(op.get("from", ""))
            value = take(source) if op["op"] == "move" else copy.deepcopy(walk(source))
            put(parts, value, replace=False)
        elif op["op"] == "test":
            if walk(parts) != op.get("value"):
                raise PatchError(f"test failed at {op['path']}")
        else:
            raise PatchError(f"unknown JSON patch op {op['op']!r}")
    return doc


# ---- server-side apply ------------------------------------------------------------------------------


class ApplyConflict(Exception):
    """Fields the applied configuration sets that another manager owns with a different value."""

    def __init__(self, conflicts: list[tuple[str, Path]]):
        super().__init__("apply conflicts")
        self.conflicts = conflicts


def dotted(path: Path) -> str:
    return "".join("." + s[2:] if s.startswith("f:") else f"[{s[2:]}]" for s in path if s != ".")


def _managers(live: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(m) for m in (live.get("metadata") or {}).get("managedFields") or []]


def _overlaps(a: Path, b: Path) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def apply(live: dict[str, Any] | None, config: dict[str, Any], manager: str, force: bool, now: str) -> dict[str, Any]:
    """The object after `manager` applies `config` to `live` (None = create), with managedFields.

    Raises ApplyConflict naming each (other manager, field) whose value `config` would change.
    """
    wanted = field_paths(config)
    if live is None:
        result = copy.deepcopy(config)
        result.setdefault("metadata", {})["managedFields"] = [_entry(manager, "Apply", config, wanted, now)]
        return result
    managers = _managers(live)
    conflicts: list[tuple[str, Path]] = []
    for entry in managers:
        if entry["manager"] == manager and entry["operation"] == "Apply":
            continue
        owned = from_fields_v1(entry.get("fieldsV1") or {})
        taken = {p for p in owned for w in wanted if _overlaps(p, w) and value_at(live, p) != value_at(config, p)}
        taken = {p for p in taken if value_at(config, p) is not _MISSING or p in wanted}
        if taken and not force:
            conflicts += [(entry["manager"], p) for p in sorted(taken)]
        elif taken:
            entry["fieldsV1"] = to_fields_v1(owned - taken)
    if conflicts:
        raise ApplyConflict(conflicts)
    previous = next((m for m in managers if m["manager"] == manager and m["operation"] == "Apply"), None)
    result = copy.deepcopy(live)
    if previous:
        others = set().union(*(from_fields_v1(m.get("fieldsV1") or {}) for m in managers if m is not previous))
        for path in sorted(from_fields_v1(previous.get("fieldsV1") or {}) - wanted, key=len, reverse=True):
            if not any(_overlaps(path, o) for o in others) and value_at(result, path) is not _MISSING:
                remove_path(result, path)
    body = {k: v for k, v in config.items() if k != "status"}
    result = strategic_merge(result, body)
    kept = [m for m in managers if m is not previous and (m.get("fieldsV1") or m["operation"] == "Apply")]
    result.setdefault("metadata", {})["managedFields"] = [*kept, _entry(manager, "Apply", config, wanted, now)]
    return result


def record_update(old: dict[str, Any] | None, new: dict[str, Any], manager: str, now: str) -> None:
    """Give `manager` (operation Update) the fields that changed from `old` to `new`; others lose them."""
    managers = _managers(old or {})
    new_paths = field_paths(new)
    changed = {p for p in new_paths if old is None or value_at(old, p) != value_at(new, p)}
    gone = field_paths(old) - new_paths if old else set()
    entries = []
    mine = None
    for entry in managers:
        owned = from_fields_v1(entry.get("fieldsV1") or {})
        if entry["manager"] == manager and entry["operation"] == "Update":
            mine = owned
            continue
        left = {p for p in owned if not any(_overlaps(p, c) for c in changed) and p not in gone}
        if left:
            entries.append({**entry, "fieldsV1": to_fields_v1(left)})
    owned_now = ((mine or set()) - gone) | changed
    if owned_now:
        entries.append(_entry(manager, "Update", new, owned_now, now))
    new.setdefault("metadata", {})["managedFields"] = entries


def _entry(manager: str, operation: str, obj: dict[str, Any], paths: set[Path], now: str) -> dict[str, Any]:
    return {"manager": manager, "operation": operation, "apiVersion": obj.get("apiVersion", ""), "time": now,
            "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(paths)}  # fmt: skip
