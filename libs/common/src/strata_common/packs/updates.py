"""What a profile update changes for a cluster: the path-level diff of two values documents, the layers'
diff between two profile revisions (packs added, removed or moved to another version, values changed,
changes that replace nodes), and the three-way merge of a profile's values change with the cluster's
override, whose conflicts a user resolves before the update applies.

Values are compared as the profile gives them to a pack: the pack's defaults with the profile's values
merged on top (a new pack version's new defaults are a change too). Paths are dotted, as the effective
values' origins are; a leaf is a value that is not a mapping, or an empty mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from strata_common.model.cluster import Layer
from strata_common.packs.profiles import deep_merge, parse_values

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
KEEP, TAKE, VALUE = "keep-override", "take-profile", "value"  # how a user resolves a conflict
# Layers whose change rebuilds the nodes: the OS image and the Kubernetes version or kubeadm settings.
REPLACING_LAYERS = ("os", "k8s")
_ABSENT: Any = object()


@dataclass(frozen=True)
class ValueChange:
    path: str
    change: str  # added, removed or changed
    old: Any = None
    new: Any = None

    def to_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"path": self.path, "change": self.change}
        if self.change != ADDED:
            shown["old"] = self.old
        if self.change != REMOVED:
            shown["new"] = self.new
        return shown


@dataclass(frozen=True)
class LayerChange:
    pack: str
    layer: str
    change: str  # added, removed or changed
    old_version: str | None
    new_version: str | None
    values: tuple[ValueChange, ...]
    replaces_nodes: bool

    def to_json(self) -> dict[str, Any]:
        return {"pack": self.pack, "layer": self.layer, "change": self.change, "fromVersion": self.old_version,
                "toVersion": self.new_version, "values": [v.to_json() for v in self.values],
                "replacesNodes": self.replaces_nodes}  # fmt: skip


@dataclass(frozen=True)
class Conflict:
    pack: str
    path: str
    base: Any  # None where the path is absent (see the flags)
    profile: Any
    override: Any
    in_base: bool
    in_profile: bool

    @property
    def key(self) -> str:
        return f"{self.pack}:{self.path}"

    @property
    def summary(self) -> str:
        profile = repr(self.profile) if self.in_profile else "(removed)"
        return f"override {self.override!r}, profile {profile}"

    def to_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"pack": self.pack, "path": self.path, "override": self.override}
        if self.in_base:
            shown["base"] = self.base
        if self.in_profile:
            shown["profile"] = self.profile
        return shown


def _leaves(values: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for key, value in values.items():
        path = (*prefix, str(key))
        if isinstance(value, dict) and value:
            yield from _leaves(value, path)
        else:
            yield path, value


def _at(values: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(values, dict) or key not in values:
            return _ABSENT
        values = values[key]
    return values


def values_diff(old: dict[str, Any], new: dict[str, Any]) -> list[ValueChange]:
    """Leaf by leaf, sorted by path: what `new` adds, removes or changes against `old`. A leaf that turns
    into a mapping (or back) is removed and its replacement's leaves added."""
    before, after = dict(_leaves(old)), dict(_leaves(new))
    changes = []
    for path in sorted(before.keys() | after.keys()):
        shown = ".".join(path)
        if path not in after:
            changes.append(ValueChange(shown, REMOVED, old=before[path]))
        elif path not in before:
            changes.append(ValueChange(shown, ADDED, new=after[path]))
        elif before[path] != after[path]:
            changes.append(ValueChange(shown, CHANGED, before[path], after[path]))
    return changes


def profile_values(layer: Layer, defaults: str) -> dict[str, Any]:
    """The values a profile layer gives its pack: the pack version's defaults, the profile's on top."""
    return deep_merge(parse_values(defaults), parse_values(layer.values))


def layers_diff(old: list[Layer], new: list[Layer], defaults: Callable[[Layer], str],
                replaces: bool = True) -> list[LayerChange]:  # fmt: skip
    """Per pack, in the new revision's order then the removed ones: added, removed, or changed (another
    version or other values). `defaults(layer)` reads a layer's pack defaults; a change of an OS or
    Kubernetes layer is flagged as replacing nodes unless `replaces` says no node is replaced."""
    before = {layer.pack: layer for layer in old}
    after = {layer.pack: layer for layer in new}
    changes = []
    for layer in new:
        was = before.get(layer.pack)
        now_values = profile_values(layer, defaults(layer))
        if was is None:
            diff = values_diff({}, now_values)
            changes.append(LayerChange(layer.pack, layer.layer, ADDED, None, layer.version, tuple(diff),
                                       layer.layer in REPLACING_LAYERS and replaces))  # fmt: skip
            continue
        diff = values_diff(profile_values(was, defaults(was)), now_values)
        if was.version != layer.version or diff:
            changes.append(LayerChange(layer.pack, layer.layer, CHANGED, was.version, layer.version, tuple(diff),
                                       layer.layer in REPLACING_LAYERS and replaces))  # fmt: skip
    for layer in old:
        if layer.pack not in after:
            diff = values_diff(profile_values(layer, defaults(layer)), {})
            changes.append(LayerChange(layer.pack, layer.layer, REMOVED, layer.version, None, tuple(diff),
                                       layer.layer in REPLACING_LAYERS and replaces))  # fmt: skip
    return changes


def conflicts(pack: str, base: dict[str, Any], profile: dict[str, Any] | None,
              override: dict[str, Any]) -> list[Conflict]:  # fmt: skip
    """Paths of the cluster's `override` of `pack` that the update's profile values (None: the update
    removes the pack) change to something else than the override says: the profile changed the path
    (base -> profile) and the override holds another value, or the profile removed a mapping the
    override edits. Everything else merges by itself: the override stays on top of the new values."""
    found = []
    for path, mine in _leaves(override):
        shown = ".".join(path)
        was = _at(base, path)
        now = _ABSENT if profile is None else _at(profile, path)
        removed_map = profile is None or any(
            isinstance(_at(base, path[:i]), dict) and _at(profile, path[:i]) is _ABSENT for i in range(1, len(path))
        )
        if (was != now and now != mine) or removed_map:
            found.append(Conflict(pack, shown, None if was is _ABSENT else was, None if now is _ABSENT else now,
                                  mine, was is not _ABSENT, now is not _ABSENT))  # fmt: skip
    return found


def override_conflicts(old: list[Layer], new: list[Layer], overrides: dict[str, dict[str, Any]],
                       defaults: Callable[[Layer], str]) -> list[Conflict]:  # fmt: skip
    """The conflicts of a cluster's overrides (by pack) with a move from the `old` layers to the `new`."""
    before = {layer.pack: layer for layer in old}
    after = {layer.pack: layer for layer in new}
    found = []
    for pack, override in sorted(overrides.items()):
        if pack not in before:
            continue
        base = profile_values(before[pack], defaults(before[pack]))
        theirs = profile_values(after[pack], defaults(after[pack])) if pack in after else None
        found += conflicts(pack, base, theirs, override)
    return found


def _set(values: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    head, *rest = path
    inner = values[head] if isinstance(values.get(head), dict) else {}
    return {**values, head: _set(inner, rest, value) if rest else value}


def _drop(values: dict[str, Any], path: list[str]) -> dict[str, Any]:
    """`values` without the leaf at `path`, and without the mappings that leaves empty."""
    head, *rest = path
    if head not in values:
        return values
    kept = {k: v for k, v in values.items() if k != head}
    if rest and isinstance(values[head], dict) and (inner := _drop(values[head], rest)):
        kept[head] = inner
    return kept


def rebased(override: dict[str, Any], resolved: list[tuple[Conflict, dict[str, Any]]]) -> dict[str, Any]:
    """A pack's override once its update applies, from each conflict's resolution ({"action", "value"?}):
    keep-override keeps the path, take-profile drops it (the profile's value shows through), a value sets
    it. Paths without a conflict stay as they are."""
    for conflict, choice in resolved:
        path = conflict.path.split(".")
        if choice["action"] == TAKE:
            override = _drop(override, path)
        elif choice["action"] == VALUE:
            override = _set(override, path, choice["value"])
    return override


def refusal(conflicts: list[Conflict]) -> dict[str, str]:
    """Each unresolved conflict by key, with what it opposes (an error's fields)."""
    return {conflict.key: conflict.summary for conflict in conflicts}
