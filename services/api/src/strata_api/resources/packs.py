"""Packs (read-only) and pack registries: the public one and each project's private ones."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from strata_api.errors import ApiError
from strata_api.http import api, load_json, principal, reply, transaction, uuid_arg
from strata_api.schemas import PackDetail, PackList, RegistryCreate, RegistryList, RegistryView, SyncReport
from strata_common.packs.registry import RegistryError, is_url, sync

bp = Blueprint("packs", __name__, url_prefix="/v1")

VISIBLE = "(r.project_id IS NULL OR r.project_id = %(project)s)"
PACKS = "SELECT p.id, p.digest, p.definition, r.name AS registry FROM packs p JOIN registries r ON r.id = p.registry_id"


def _pack_view(row: dict[str, Any], detail: bool = False) -> dict[str, Any]:
    d = row["definition"]
    view = {
        "id": row["id"],
        "name": d["name"],
        "version": d["version"],
        "layer": d["layer"],
        "displayName": d["displayName"],
        "cloudTypes": d["cloudTypes"],
        "digest": row["digest"],
        "registry": row["registry"],
    }
    if detail:
        view.update(
            description=d["description"],
            constraints=d["constraints"],
            kubernetesVersions=d.get("kubernetesVersions"),
            os=d.get("os"),
            kubernetes=d.get("kubernetes"),
            values=d["values"],
            manifests=d["manifests"],
            roleFiles=sorted(d["roleFiles"]),
        )
    return view


@bp.get("/packs")
@api(
    "List the packs this project can use",
    responses={200: PackList},
    query={"layer": "os|k8s|cni|csi|addon", "name": "exact pack name"},
)
def list_packs():
    layer, name = request.args.get("layer"), request.args.get("name")
    with transaction() as conn:
        rows = conn.execute(
            f"{PACKS} WHERE {VISIBLE} AND (%(layer)s::text IS NULL OR p.layer = %(layer)s)"
            " AND (%(name)s::text IS NULL OR p.name = %(name)s) ORDER BY p.layer, p.name, p.version",
            {"project": principal().project_id, "layer": layer, "name": name},
        ).fetchall()
    return reply(200, PackList, {"items": [_pack_view(r) for r in rows]})


@bp.get("/packs/<pack_id>")
@api("Get a pack with its values, manifests and role files", responses={200: PackDetail, 404: None})
def get_pack(pack_id: str):
    with transaction() as conn:
        row = conn.execute(
            f"{PACKS} WHERE {VISIBLE} AND p.id = %(id)s",
            {"project": principal().project_id, "id": uuid_arg(pack_id, "pack")},
        ).fetchone()
    if row is None:
        raise ApiError(404, "not_found", f"pack {pack_id!r} not found")
    return reply(200, PackDetail, _pack_view(row, detail=True))


def _registry_view(conn, registry_id) -> dict[str, Any]:
    row = conn.execute(
        "SELECT r.*, (SELECT count(*) FROM packs p WHERE p.registry_id = r.id) AS pack_count FROM registries r"
        " WHERE r.id = %s",
        (registry_id,),
    ).fetchone()
    return {
        "id": row["id"],
        "name": row["name"],
        "source": row["source"],
        "public": row["project_id"] is None,
        "lastSyncedAt": row["last_synced_at"],
        "lastSync": row["last_sync"],
        "packCount": row["pack_count"],
    }


@bp.get("/registries")
@api("List registries: the public one and this project's", responses={200: RegistryList})
def list_registries():
    with transaction() as conn:
        ids = conn.execute(
            f"SELECT r.id FROM registries r WHERE {VISIBLE} ORDER BY r.project_id NULLS FIRST, r.name",
            {"project": principal().project_id},
        ).fetchall()
        return reply(200, RegistryList, {"items": [_registry_view(conn, r["id"]) for r in ids]})


@bp.post("/registries")
@api(
    "Add a private registry (a folder path or an http(s) URL of its index.json)",
    role="admin",
    request_schema=RegistryCreate,
    responses={201: RegistryView, 409: None, 422: None},
    idempotent=True,
)
def create_registry():
    data = load_json(RegistryCreate())
    source = data["source"]
    if not is_url(source) and not source.startswith("/"):
        raise ApiError(
            422, "invalid", "source must be an absolute folder path or an http(s) URL", {"source": "not a path or URL"}
        )
    with transaction() as conn:
        row = conn.execute(
            "INSERT INTO registries (project_id, name, source) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
            (principal().project_id, data["name"], source),
        ).fetchone()
        if row is None:
            raise ApiError(409, "conflict", f"a registry named {data['name']!r} exists", {"name": "already used"})
        return reply(201, RegistryView, _registry_view(conn, row["id"]), conn)


def _own_registry(conn, registry_id: str) -> dict[str, Any]:
    """The project's registry, locked until commit (a sync and a delete never interleave)."""
    row = conn.execute(
        "SELECT id, source FROM registries WHERE id = %s AND project_id = %s FOR UPDATE",
        (uuid_arg(registry_id, "registry"), principal().project_id),
    ).fetchone()
    if row is None:
        raise ApiError(404, "not_found", f"registry {registry_id!r} not found")
    return row


@bp.get("/registries/<registry_id>")
@api("Get a registry and its last sync report", responses={200: RegistryView, 404: None})
def get_registry(registry_id: str):
    with transaction() as conn:
        row = conn.execute(
            f"SELECT r.id FROM registries r WHERE {VISIBLE} AND r.id = %(id)s",
            {"project": principal().project_id, "id": uuid_arg(registry_id, "registry")},
        ).fetchone()
        if row is None:
            raise ApiError(404, "not_found", f"registry {registry_id!r} not found")
        return reply(200, RegistryView, _registry_view(conn, row["id"]))


@bp.post("/registries/<registry_id>/sync")
@api(
    "Load the registry's packs; invalid packs are reported, the rest load",
    role="admin",
    responses={200: SyncReport, 404: None, 422: None},
)
def sync_registry(registry_id: str):
    with transaction() as conn:
        registry = _own_registry(conn, registry_id)
        try:
            report = sync(conn, registry["id"], registry["source"])
        except RegistryError as err:
            raise ApiError(422, "registry_unreadable", str(err), {"source": str(err)}) from None
        return reply(200, SyncReport, report)


@bp.delete("/registries/<registry_id>")
@api(
    "Remove a private registry and its packs (refused while a profile uses them)",
    role="admin",
    responses={204: None, 404: None, 409: None},
)
def delete_registry(registry_id: str):
    with transaction() as conn:
        registry = _own_registry(conn, registry_id)
        used = conn.execute(
            "SELECT 1 FROM profile_revisions pr, jsonb_array_elements(pr.layers) l"
            " WHERE l->>'packId' IN (SELECT id::text FROM packs WHERE registry_id = %s) LIMIT 1",
            (registry["id"],),
        ).fetchone()
        if used:
            raise ApiError(409, "in_use", "a profile revision uses packs of this registry")
        conn.execute("DELETE FROM registries WHERE id = %s", (registry["id"],))
    return "", 204
