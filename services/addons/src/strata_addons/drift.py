"""Drift of Running clusters' add-ons, checked in the health check's batches once STRATA_DRIFT_INTERVAL
has passed since a cluster's last (it reads every object back: far more than a health check): every
object its CNI, CSI and add-on packs declare is read back; one deleted, or whose declared fields were
changed out of band, is applied again (server-side apply, forced: Strata's values win) and a
`DriftCorrected` event names it. Fields Strata does not declare (the API server's defaults, what
others manage) are not drift."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

from strata_addons.handlers import rendered
from strata_common.config import Settings
from strata_common.db.types import DbPool
from strata_common.engine.errors import StepError
from strata_common.engine.events import append_event
from strata_common.engine.publish import Publisher
from strata_common.engine.runner import Dependencies
from strata_common.kube.access import KubeAccess, cluster_accesses
from strata_common.kube.client import KubeError
from strata_common.kube.inventory import MANAGER, reapply_drifted
from strata_common.kube_steps import kept_client
from strata_common.model.cluster import PACK_LAYERS, ClusterSpec

log = logging.getLogger(__name__)
ASKED_AT_ONCE = 8  # clusters whose API a batch reads at the same time


def check_drift(cluster_ids: list[UUID], pool: DbPool, settings: Settings, deps: Dependencies,
                publisher: Publisher) -> str:  # fmt: skip
    """Check the add-ons of these clusters (those Running, not paused, with a CNI, CSI or add-on pack)."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT id, spec FROM clusters WHERE id = ANY(%s) AND deleted_at IS NULL AND phase = 'Running'"
            " AND NOT paused",
            (cluster_ids,),
        ).fetchall()
        specs = {r["id"]: ClusterSpec.from_json(r["spec"]) for r in rows}
        specs = {c: spec for c, spec in specs.items()  # a pull-mode cluster's agent corrects its drift
                 if not spec.pulled and any(layer.layer in PACK_LAYERS for layer in spec.layers)}  # fmt: skip
        accesses = cluster_accesses(conn, list(specs), settings)
        objects = {}
        for cluster_id in accesses:
            spec = specs[cluster_id]
            try:
                objects[cluster_id] = [o for layer in spec.layers if layer.layer in PACK_LAYERS
                                       for o in rendered(conn, spec, layer.pack)[1]]  # fmt: skip
            except StepError as err:
                log.warning("drift check of %s skipped: %s", cluster_id, err)
    with ThreadPoolExecutor(ASKED_AT_ONCE) as asking:
        asked = [asking.submit(_correct, c, accesses[c], objects[c], pool, deps) for c in objects]
    corrected = sum(each.result() for each in asked)
    return f"{len(objects)} checked, {corrected} objects corrected"


def _correct(cluster_id: UUID, access: KubeAccess, objects: list[dict[str, Any]], pool: DbPool,
             deps: Dependencies) -> int:  # fmt: skip
    """Apply again the cluster's objects that were deleted or changed; how many were."""
    corrected: list[str] = []
    try:
        with kept_client(str(cluster_id), access, deps.kube) as client:
            corrected = reapply_drifted(client, objects, MANAGER)
    except KubeError as err:
        log.warning("drift check of %s: the cluster's API answered %s", cluster_id, err)
    if corrected:
        with pool.connection() as conn:
            append_event(conn, cluster_id, "warning", "addons", "DriftCorrected",
                         f"applied again what changed outside Strata: {', '.join(corrected)}",
                         {"objects": corrected})  # fmt: skip
    return len(corrected)
