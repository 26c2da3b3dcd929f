"""A pack's effective values in a cluster: pack defaults, then profile values, then the cluster's
override, each leaf remembering which of the three set it; and the objects they render to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strata_common.db.queries import packs
from strata_common.db.types import DbConnection
from strata_common.model.cluster import ClusterSpec, Layer
from strata_common.packs.manifests import parse_documents, render
from strata_common.packs.profiles import deep_merge, parse_values

ORIGINS = ("pack", "profile", "override")


def leaf_values(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Each leaf of `values` by its dotted path (an empty mapping is a leaf), as `origins` names them."""
    leaves: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        leaves.update(leaf_values(value, f"{path}.") if isinstance(value, dict) and value else {path: value})
    return leaves


def effective_values(
    definition: dict[str, Any], profile_values: str, override: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """(values, origin of each leaf as a dotted path)."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    sources = (parse_values(definition["values"]), parse_values(profile_values), override or {})
    for origin, layer in zip(ORIGINS, sources, strict=True):
        values = deep_merge(values, layer)
        for path in leaf_values(layer):
            origins = {p: o for p, o in origins.items() if not p.startswith(f"{path}.")}
            origins[path] = origin
    present = set(leaf_values(values))
    return values, {path: origin for path, origin in sorted(origins.items()) if path in present}


def defaults_reader(conn: DbConnection) -> Callable[[Layer], str]:
    """Reads a layer's pack defaults (its values document), each pack version once."""
    read: dict[str, str] = {}

    def defaults(layer: Layer) -> str:
        if layer.pack_id not in read:
            read[layer.pack_id] = packs.definition(conn, layer.pack_id)["values"]
        return read[layer.pack_id]

    return defaults


def render_objects(definition: dict[str, Any], values: dict[str, Any]) -> list[dict[str, Any]]:
    """The pack's Kubernetes objects with `values` (raises ManifestError naming the file and object)."""
    objects = []
    for name, text in definition["manifests"].items():
        objects += parse_documents(render(text, values), f"{definition['name']}/{name}")
    return objects


def pack_layer(conn: DbConnection, spec: ClusterSpec, pack: str) -> tuple[Layer, dict[str, Any]] | None:
    """(layer, pack definition) of a cluster spec's layer named `pack`, or None."""
    layer = spec.pack(pack)
    if layer is None:
        return None
    return layer, packs.definition(conn, layer.pack_id)
