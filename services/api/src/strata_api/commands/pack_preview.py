"""A dry run's Kubernetes side: for each pack the plan applies, the objects it would create, change (field
by field) or prune, worked out by the cluster's own API server (server-side apply with `dryRun=All`,
nothing persisted); and the packs the plan removes, whose objects would all be pruned. A cluster with no
API yet would create every object; one whose API does not answer gets the reason, not a guess."""

from __future__ import annotations

from contextlib import suppress
from typing import Any
from uuid import UUID

from strata_common.config import Settings
from strata_common.db.types import DbConnection
from strata_common.kube.access import NotReachable, cluster_access
from strata_common.kube.client import KubeClient, KubeError
from strata_common.kube.inventory import inventories, object_key
from strata_common.kube.preview import described, preview_pack
from strata_common.model.cluster import ClusterSpec
from strata_common.packs.rendering import RenderError, rendered_pack

ASK_SECONDS = 10.0  # a dry run answers a person: an API slower than this is reported, not waited for


def packs_preview(conn: DbConnection, settings: Settings, cluster_id: UUID | None, spec: ClusterSpec,
                  steps: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    """What the plan's pack steps would do to the cluster's objects (`cluster_id` None: a cluster not created)."""
    applied = [step["name"].split("/", 1)[1] for step in steps if step["name"].startswith("ensure_pack/")]
    prunes = any(step["name"] == "prune_packs" for step in steps)
    rendered: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    problems = []
    for pack in applied:
        try:
            layer, objects = rendered_pack(conn, spec, pack)
        except RenderError as err:
            problems.append(str(err))
            continue
        rendered[pack] = (layer.version, objects)
    access = None
    if cluster_id is not None:
        with suppress(NotReachable):
            access = cluster_access(conn, cluster_id, settings)
    if access is None:
        packs = [_entry(pack, version, len(objects), create=[described(object_key(o)) for o in objects])
                 for pack, (version, objects) in rendered.items()]  # fmt: skip
        return {"checked": True, "message": "the cluster has no Kubernetes API yet: every object is created",
                "packs": packs, "problems": problems}  # fmt: skip
    client = KubeClient(access, timeout=ASK_SECONDS)
    try:
        found = inventories(client)
        packs = [_entry(pack, version, len(objects), **preview_pack(client, objects, found.get(pack, ("", "", {}))[2]))
                 for pack, (version, objects) in rendered.items()]  # fmt: skip
        if prunes:
            packs += [_entry(pack, version, 0, prune=[described(key) for key in sorted(objects)], unchanged=0)
                      for pack, (_, version, objects) in sorted(found.items()) if spec.pack(pack) is None]  # fmt: skip
    except KubeError as err:
        packs = [_entry(pack, version, len(objects)) for pack, (version, objects) in rendered.items()]
        return {"checked": False, "message": f"the cluster's API could not work out the changes: {err}",
                "packs": packs, "problems": problems}  # fmt: skip
    finally:
        client.close()
    return {"checked": True, "message": "worked out by the cluster's API server (server-side apply, dryRun=All)",
            "packs": packs, "problems": problems}  # fmt: skip


def _entry(pack: str, version: str, objects: int, create: list[dict[str, Any]] | None = None,
           change: list[dict[str, Any]] | None = None, prune: list[dict[str, Any]] | None = None,
           unchanged: int | None = None) -> dict[str, Any]:  # fmt: skip
    return {"pack": pack, "version": version, "objects": objects, "create": create or [], "change": change or [],
            "prune": prune or [], "unchanged": unchanged}  # fmt: skip
