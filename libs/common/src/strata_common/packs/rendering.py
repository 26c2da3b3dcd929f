"""A cluster's pack layer rendered to the Kubernetes objects Strata applies: its effective values, every
object labelled with its pack, namespaces and CRDs first. A pack version is immutable, so what it renders
to with the same values is kept per process (a fleet on one profile renders it once)."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from strata_common.db.queries import packs
from strata_common.db.types import DbConnection
from strata_common.model.cluster import ClusterSpec, Layer
from strata_common.packs.manifests import ManifestError
from strata_common.packs.values import effective_values, render_objects

PACK_LABEL = "strata.dev/pack"
FIRST = ("Namespace", "CustomResourceDefinition")  # applied before what may live in or be defined by them
RENDERED_KEPT = 256  # rendered packs kept per process, by pack version, profile values and override
_rendered: OrderedDict[tuple[str, str, str], str] = OrderedDict()
_rendered_lock = threading.Lock()  # drift checks render in threads


class RenderError(ValueError):
    """The layer is not in the spec (`PackNotInProfile`) or its values do not render (`InvalidValues`)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def rendered_pack(conn: DbConnection, spec: ClusterSpec, pack: str) -> tuple[Layer, list[dict[str, Any]]]:
    """(layer, labelled objects) of the layer `pack` of `spec` with its effective values."""
    layer = spec.pack(pack)
    if layer is None:
        raise RenderError("PackNotInProfile", f"the cluster's profile has no pack {pack!r}")
    key = (layer.pack_id, layer.values, json.dumps(spec.overrides.get(pack), sort_keys=True))
    with _rendered_lock:
        text = _rendered.get(key)
        if text is not None:
            _rendered.move_to_end(key)
    if text is None:
        text = json.dumps(_render(conn, spec, layer))
        with _rendered_lock:
            _rendered[key] = text
            while len(_rendered) > RENDERED_KEPT:
                _rendered.popitem(last=False)
    return layer, json.loads(text)


def _render(conn: DbConnection, spec: ClusterSpec, layer: Layer) -> list[dict[str, Any]]:
    definition = packs.definition(conn, layer.pack_id)
    values, _ = effective_values(definition, layer.values, spec.overrides.get(layer.pack))
    try:
        objects = render_objects(definition, values)
    except (ManifestError, ValueError, TypeError, AttributeError, KeyError) as err:
        raise RenderError("InvalidValues", f"{layer.pack}: {err}") from None
    for obj in objects:
        labels = obj["metadata"].setdefault("labels", {}) or {}
        obj["metadata"]["labels"] = {**labels, PACK_LABEL: layer.pack, "app.kubernetes.io/managed-by": "strata"}
    objects.sort(key=lambda o: 0 if o["kind"] in FIRST else 1)
    return objects
