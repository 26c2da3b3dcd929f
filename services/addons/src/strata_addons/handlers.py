"""Step handlers of the add-ons service: apply a pack's objects by server-side apply (field manager
`strata`), prune what it no longer declares (by the pack's inventory), wait for its workloads; prune
packs the cluster no longer has."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from strata_common.db.types import DbConnection
from strata_common.engine.errors import USER_FIXABLE, Retry, StepError
from strata_common.engine.registry import step_handler
from strata_common.engine.runner import StepContext
from strata_common.kube.client import KubeClient, KubeError
from strata_common.kube.inventory import (
    INVENTORY_NAMESPACE,
    MANAGER,
    applied_version,
    delete_objects,
    inventories,
    object_key,
    read_inventory,
    save_inventory,
    with_namespace,
)
from strata_common.kube.readiness import WORKLOADS, not_ready
from strata_common.kube_steps import kube
from strata_common.model.cluster import ClusterSpec, Layer
from strata_common.packs.rendering import RenderError, rendered_pack


def pack_objects(ctx: StepContext, pack: str) -> tuple[Layer, list[dict[str, Any]]]:
    """(layer, labelled objects) of the cluster's layer `pack` with its effective values."""
    with ctx.db.connection() as conn:
        return rendered(conn, ctx.spec, pack)


def rendered(conn: DbConnection, spec: ClusterSpec, pack: str) -> tuple[Layer, list[dict[str, Any]]]:
    """The pack rendered; what cannot be is the user's to fix."""
    try:
        return rendered_pack(conn, spec, pack)
    except RenderError as err:
        raise StepError(err.reason, str(err), USER_FIXABLE) from None


def _apply(ctx: StepContext, client: KubeClient, obj: dict[str, Any]) -> dict[str, Any]:
    """Apply without force first: if another manager changed a field Strata declares, say so, then take it."""
    obj = with_namespace(client, obj)
    try:
        return client.apply(obj, MANAGER)
    except KubeError as err:
        if err.status != 409:
            raise
        causes = err.causes
    ctx.event("warning", "DriftCorrected", f"{obj['kind']} {obj['metadata']['name']}: taking back fields changed "
              f"outside Strata ({'; '.join(causes)})", {"object": object_key(obj), "conflicts": causes})  # fmt: skip
    return client.apply(obj, MANAGER, force=True)


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
    before = read_inventory(client, pack)
    applied = {}
    changed = []
    for obj in objects:
        live = _apply(ctx, client, obj)
        key = object_key(obj)
        applied[key] = applied_version(live)
        if before.get(key) != applied[key]:
            changed.append(key)
    pruned = delete_objects(client, [k for k in before if k not in applied])
    save_inventory(client, pack, entry.version, applied)
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
        for pack, (name, _, objects) in inventories(client).items():
            if pack in keep:
                continue
            removed[pack] = delete_objects(client, list(objects))
            client.delete("v1", "ConfigMap", INVENTORY_NAMESPACE, name)
            ctx.event("info", "PackRemoved", f"{pack}: removed from the profile, {len(removed[pack])} objects deleted",
                      {"pack": pack, "deleted": removed[pack]})  # fmt: skip
    return {"removed": removed}
