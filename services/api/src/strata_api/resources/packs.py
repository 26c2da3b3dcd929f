"""Packs (read-only) and pack registries: the public one and each project's private ones."""

from __future__ import annotations

from flask import Blueprint, request

from strata_api.commands import registries as commands
from strata_api.errors import ApiError
from strata_api.http import api, db, load_json, one_of, principal, reply, work
from strata_api.queries import packs as queries
from strata_api.queries.packs import pack_view, registry_view
from strata_api.schemas import PackDetail, PackList, RegistryCreate, RegistryList, RegistryView, SyncReport
from strata_common.schemas.packs import LAYERS

bp = Blueprint("packs", __name__, url_prefix="/v1")


@bp.get("/packs")
@api(
    "List the packs this project can use",
    responses={200: PackList},
    query={"layer": one_of("the pack layer", LAYERS), "name": "exact pack name"},
)
def list_packs():
    rows = queries.list_packs(db(), principal().project_id, request.args.get("layer"), request.args.get("name"))
    return reply(200, PackList, {"items": [pack_view(r) for r in rows]})


@bp.get("/packs/<pack_id>")
@api("Get a pack with its values, manifests and role files", responses={200: PackDetail, 404: None})
def get_pack(pack_id: str):
    return reply(200, PackDetail, pack_view(queries.visible_pack(db(), principal().project_id, pack_id), detail=True))


@bp.get("/registries")
@api("List registries: the public one and this project's", responses={200: RegistryList})
def list_registries():
    conn = db()
    items = [registry_view(conn, ident) for ident in queries.visible_registry_ids(conn, principal().project_id)]
    return reply(200, RegistryList, {"items": items})


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
    with work() as unit:
        return reply(201, RegistryView, registry_view(unit.conn, commands.create_registry(unit, data)), unit.conn)


@bp.get("/registries/<registry_id>")
@api("Get a registry and its last sync report", responses={200: RegistryView, 404: None})
def get_registry(registry_id: str):
    conn = db()
    found = queries.visible_registry_ids(conn, principal().project_id, registry_id)
    if not found:
        raise ApiError(404, "not_found", f"registry {registry_id!r} not found")
    return reply(200, RegistryView, registry_view(conn, found[0]))


@bp.post("/registries/<registry_id>/sync")
@api(
    "Load the registry's packs; invalid packs are reported, the rest load",
    role="admin",
    responses={200: SyncReport, 404: None, 422: None},
)
def sync_registry(registry_id: str):
    with work() as unit:
        return reply(200, SyncReport, commands.sync_registry(unit, registry_id))


@bp.delete("/registries/<registry_id>")
@api(
    "Remove a private registry and its packs (refused while a profile uses them)",
    role="admin",
    responses={204: None, 404: None, 409: None},
)
def delete_registry(registry_id: str):
    with work() as unit:
        commands.delete_registry(unit, registry_id)
    return "", 204
