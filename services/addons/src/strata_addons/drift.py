"""Drift of a Running cluster's add-ons, checked with its health check: every object its CNI, CSI and
add-on packs declare is read back; one deleted, or whose declared fields were changed out of band,
is applied again (server-side apply, forced: Strata's values win) and a `DriftCorrected` event names
it. Fields Strata does not declare (the API server's defaults, what others manage) are not drift."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from strata_addons.handlers import MANAGER, rendered_pack
from strata_common.config import Settings
from strata_common.db.types import DbPool
from strata_common.engine.errors import StepError
from strata_common.engine.events import append_event
from strata_common.engine.publish import Publisher
from strata_common.engine.runner import Dependencies
from strata_common.kube.access import NotReachable, cluster_access
from strata_common.kube.client import KubeError
from strata_common.kube_steps import kept_client
from strata_common.model.cluster import PACK_LAYERS, ClusterSpec

log = logging.getLogger(__name__)


def declared_in(live: Any, declared: Any) -> bool:
    """Every field `declared` sets has that value in `live` (lists: the same length, item by item)."""
    if isinstance(declared, dict):
        return isinstance(live, dict) and all(declared_in(live.get(k), v) for k, v in declared.items())
    if isinstance(declared, list):
        return isinstance(live, list) and len(live) == len(declared) and all(map(declared_in, live, declared))
    return live == declared


def check_drift(cluster_id: UUID, pool: DbPool, settings: Settings, deps: Dependencies, publisher: Publisher) -> str:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT spec, phase, paused FROM clusters WHERE id = %s AND deleted_at IS NULL", (cluster_id,)
        ).fetchone()
        if row is None or row["paused"] or row["phase"] != "Running":
            return "skipped"
        spec = ClusterSpec.from_json(row["spec"])
        try:
            access = cluster_access(conn, cluster_id, settings)
            packs = [rendered_pack(conn, spec, layer.pack) for layer in spec.layers if layer.layer in PACK_LAYERS]
        except (NotReachable, StepError) as err:
            return f"skipped: {err}"
    corrected: list[str] = []
    try:
        with kept_client(str(cluster_id), access, deps.kube) as client:
            for _, objects in packs:
                for obj in objects:
                    meta = obj["metadata"]
                    if client.resource(obj["apiVersion"], obj["kind"])[1]:
                        meta.setdefault("namespace", "default")
                    live = client.get(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
                    if live is None or not declared_in(live, obj):
                        client.apply(obj, MANAGER, force=True)
                        corrected.append(f"{obj['kind']} {meta.get('namespace', '')}/{meta['name']}"
                                         f" ({'deleted' if live is None else 'changed'})")  # fmt: skip
    except KubeError as err:
        log.warning("drift check of %s: the cluster's API answered %s", cluster_id, err)
        return "unreachable"
    if corrected:
        with pool.connection() as conn:
            append_event(conn, cluster_id, "warning", "addons", "DriftCorrected",
                         f"applied again what changed outside Strata: {', '.join(corrected)}",
                         {"objects": corrected})  # fmt: skip
    return f"corrected {len(corrected)}" if corrected else "no drift"
