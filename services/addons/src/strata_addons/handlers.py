"""Step handlers of the add-ons service: apply a pack's objects by server-side apply (field manager
`strata`), prune what it no longer declares, wait for its workloads; prune packs the cluster no
longer has.

Every object a pack applies carries the label `strata.dev/pack`; the pack's inventory (a ConfigMap
`strata-pack-NAME` in kube-system) lists its objects with the generation Strata last applied, so
a later apply knows what changed and what to delete.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from strata_addons.readiness import WORKLOADS, not_ready
from strata_common.db.queries import packs
from strata_common.db.types import DbConnection
from strata_common.engine.errors import USER_FIXABLE, Retry, StepError
from strata_common.engine.registry import step_handler
from strata_common.engine.runner import StepContext
from strata_common.kube.client import KubeClient, KubeError
from strata_common.kube_steps import kube
from strata_common.model.cluster import ClusterSpec, Layer
from strata_common.packs.manifests import ManifestError
from strata_common.packs.values import effective_values, render_objects

MANAGER = "strata"
PACK_LABEL = "strata.dev/pack"
INVENTORY_LABEL = "strata.dev/inventory"
INVENTORY_NAMESPACE = "kube-system"
FIRST = ("Namespace", "CustomResourceDefinition")  # applied before what may live in or be defined by them
RENDERED_KEPT = 256  # rendered packs kept per process, by pack version, profile values and override
_rendered: OrderedDict[tuple[str, str, str], str] = OrderedDict()
_rendered_lock = threading.Lock()  # drift checks render in threads


def _key(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return "|".join((obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"]))


def _parse_key(key: str) -> tuple[str, str, str | None, str]:
    api_version, kind, namespace, name = key.split("|")
    return api_version, kind, namespace or None, name


def pack_objects(ctx: StepContext, pack: str) -> tuple[Layer, list[dict[str, Any]]]:
    """(layer, labelled objects) of the cluster's layer `pack` with its effective values."""
    with ctx.db.connection() as conn:
        return rendered_pack(conn, ctx.spec, pack)


def rendered_pack(conn: DbConnection, spec: ClusterSpec, pack: str) -> tuple[Layer, list[dict[str, Any]]]:
    """(layer, labelled objects) of the layer `pack` of `spec` with its effective values. A pack version is
    immutable, so what it renders to with the same values is kept (a fleet on one profile renders it once)."""
    layer = spec.pack(pack)
    if layer is None:
        raise StepError("PackNotInProfile", f"the cluster's profile has no pack {pack!r}", USER_FIXABLE)
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
        raise StepError("InvalidValues", f"{layer.pack}: {err}", USER_FIXABLE) from None
    for obj in objects:
        labels = obj["metadata"].setdefault("labels", {}) or {}
        obj["metadata"]["labels"] = {**labels, PACK_LABEL: layer.pack, "app.kubernetes.io/managed-by": "strata"}
    objects.sort(key=lambda o: 0 if o["kind"] in FIRST else 1)
    return objects


def _inventory(client: KubeClient, pack: str) -> dict[str, int]:
    found = client.get("v1", "ConfigMap", INVENTORY_NAMESPACE, f"strata-pack-{pack}")
    return json.loads((found or {}).get("data", {}).get("objects", "{}"))


def _save_inventory(client: KubeClient, pack: str, version: str, objects: dict[str, int]) -> None:
    client.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"strata-pack-{pack}", "namespace": INVENTORY_NAMESPACE,
                         "labels": {INVENTORY_LABEL: "true", PACK_LABEL: pack}},
            "data": {"pack": pack, "version": version, "objects": json.dumps(objects, sort_keys=True)},
        },
        MANAGER,
        force=True,
    )  # fmt: skip


def _apply(ctx: StepContext, client: KubeClient, obj: dict[str, Any]) -> dict[str, Any]:
    """Apply without force first: if another manager changed a field Strata declares, say so, then take it."""
    _, namespaced = client.resource(obj["apiVersion"], obj["kind"])
    if namespaced and not obj["metadata"].get("namespace"):
        obj["metadata"]["namespace"] = "default"
    try:
        return client.apply(obj, MANAGER)
    except KubeError as err:
        if err.status != 409:
            raise
        causes = [c.get("message", "") for c in (err.body.get("details") or {}).get("causes") or []]
    ctx.event("warning", "DriftCorrected", f"{obj['kind']} {obj['metadata']['name']}: taking back fields changed "
              f"outside Strata ({'; '.join(causes)})", {"object": _key(obj), "conflicts": causes})  # fmt: skip
    return client.apply(obj, MANAGER, force=True)


def _delete(client: KubeClient, keys: list[str]) -> list[str]:
    deleted = []
    for key in sorted(keys, key=lambda k: _parse_key(k)[1] in FIRST):  # namespaces and CRDs last
        try:
            if client.delete(*_parse_key(key)):
                deleted.append(key)
        except KubeError as err:
            if err.status != 404:
                raise
    return deleted


@step_handler("addons", "ensure_pack")
def ensure_pack(ctx: StepContext) -> dict:
    """Apply the pack once, then look at its workloads: while they come up the step gives its slot back
    and looks again later (without applying again unless what it would apply changed). Workloads that an
    apply just created or changed are not looked at in the same run: no controller has acted on them yet."""
    pack = ctx.step.input["pack"]
    entry, objects = pack_objects(ctx, pack)
    digest = hashlib.sha256(json.dumps(objects, sort_keys=True).encode()).hexdigest()
    progress = ctx.step.output or {}
    workloads = [obj for obj in objects if obj["kind"] in WORKLOADS]
    with kube(ctx) as client:
        if progress.get("applied") != digest:
            progress = {"applied": digest, "polls": 0, **_apply_pack(ctx, client, pack, entry, objects)}
            ctx.note(**progress)
            if progress["changed"] and workloads:
                raise Retry(_poll_seconds(ctx, 0), f"{pack}: {progress['changed']} objects applied, waiting for "
                            f"{len(workloads)} workloads")  # fmt: skip
        waiting = [problem for obj in workloads if (problem := not_ready(client, obj))]
    stuck = [w.message for w in waiting if w.stuck]
    if stuck:
        raise StepError("WorkloadNotAvailable", "; ".join(stuck), USER_FIXABLE)
    if waiting:
        ctx.note(polls=progress["polls"] + 1)
        raise Retry(_poll_seconds(ctx, progress["polls"] + 1), "; ".join(w.message for w in waiting))
    return {"pack": pack, "version": entry.version, "objects": len(objects), "changed": progress["changed"],
            "pruned": progress["pruned"]}  # fmt: skip


def _apply_pack(
    ctx: StepContext, client: KubeClient, pack: str, entry: Layer, objects: list[dict[str, Any]]
) -> dict[str, int]:
    """Apply every object, prune what the pack no longer declares, save the inventory; the counts."""
    before = _inventory(client, pack)
    applied = {}
    changed = []
    for obj in objects:
        live = _apply(ctx, client, obj)
        key = _key(obj)
        applied[key] = live["metadata"].get("generation", 1)
        if before.get(key) != applied[key]:
            changed.append(key)
    pruned = _delete(client, [k for k in before if k not in applied])
    _save_inventory(client, pack, entry.version, applied)
    if changed or pruned:
        shown = ", ".join(" ".join(k.split("|")[1:][::2]) for k in changed[:10])
        ctx.event("info", "PackApplied", f"{pack}@{entry.version}: {len(changed)} of {len(objects)} objects "
                  f"created or changed{f' ({shown})' if shown else ''}, {len(pruned)} pruned",
                  {"pack": pack, "changed": changed, "pruned": pruned})  # fmt: skip
    return {"changed": len(changed), "pruned": len(pruned)}


def _poll_seconds(ctx: StepContext, polls: int) -> float:
    """When to look at the workloads again: soon at first, then less often (workloads that take long
    to come up are not looked at hundreds of times), scaled like the cloud's latencies."""
    first = max(0.2, 2.5 * ctx.settings.localcloud_time_scale)
    return min(5.0, first * 1.5**polls)


@step_handler("addons", "prune_packs")
def prune_packs(ctx: StepContext) -> dict:
    """Delete the objects of packs the cluster's profile no longer has, then their inventories."""
    keep = {layer.pack for layer in ctx.spec.layers}
    removed = {}
    with kube(ctx) as client:
        for inventory in client.list("v1", "ConfigMap", INVENTORY_NAMESPACE, f"{INVENTORY_LABEL}=true"):
            pack = inventory["data"]["pack"]
            if pack in keep:
                continue
            removed[pack] = _delete(client, list(json.loads(inventory["data"].get("objects", "{}"))))
            client.delete("v1", "ConfigMap", INVENTORY_NAMESPACE, inventory["metadata"]["name"])
            ctx.event("info", "PackRemoved", f"{pack}: removed from the profile, {len(removed[pack])} objects deleted",
                      {"pack": pack, "deleted": removed[pack]})  # fmt: skip
    return {"removed": removed}
