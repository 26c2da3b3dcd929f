"""Packs a project can use and its registries (the public one and its own), with their views."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strata_api.errors import ApiError
from strata_api.queries import project_row
from strata_common.db.types import DbConnection, exists, one

VISIBLE = "(r.project_id IS NULL OR r.project_id = %(project)s)"
PACKS = "SELECT p.id, p.digest, p.definition, r.name AS registry FROM packs p JOIN registries r ON r.id = p.registry_id"


def list_packs(conn: DbConnection, project_id: UUID, layer: str | None, name: str | None) -> list[dict[str, Any]]:
    return conn.execute(
        f"{PACKS} WHERE {VISIBLE} AND (%(layer)s::text IS NULL OR p.layer = %(layer)s)"
        " AND (%(name)s::text IS NULL OR p.name = %(name)s) ORDER BY p.layer, p.name, p.version",
        {"project": project_id, "layer": layer, "name": name},
    ).fetchall()


def visible_pack(conn: DbConnection, project_id: UUID, pack_id: str) -> dict[str, Any]:
    """A pack of the public registry or the project's (404 otherwise)."""
    try:
        key = UUID(pack_id)
    except ValueError:
        key = None
    row = conn.execute(f"{PACKS} WHERE {VISIBLE} AND p.id = %(id)s", {"project": project_id, "id": key}).fetchone()
    if row is None:
        raise ApiError(404, "not_found", f"pack {pack_id!r} not found")
    return row


def pack_view(row: dict[str, Any], detail: bool = False) -> dict[str, Any]:
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


def own_registry(conn: DbConnection, project_id: UUID, registry_id: str) -> dict[str, Any]:
    """The project's private registry, locked until commit (a sync and a delete never interleave)."""
    return project_row(conn, "registries", registry_id, project_id, "registry", lock=True, columns="id, source")


def visible_registry_ids(conn: DbConnection, project_id: UUID, registry_id: str | None = None) -> list[UUID]:
    """The public registry and the project's, or just `registry_id` if it is one of them."""
    try:
        key = UUID(registry_id) if registry_id is not None else None
    except ValueError:
        return []
    rows = conn.execute(
        f"SELECT r.id FROM registries r WHERE {VISIBLE} AND (%(id)s::uuid IS NULL OR r.id = %(id)s)"
        " ORDER BY r.project_id NULLS FIRST, r.name",
        {"project": project_id, "id": key},
    ).fetchall()
    return [row["id"] for row in rows]


def registry_in_use(conn: DbConnection, registry_id: UUID) -> bool:
    """Whether a profile revision uses a pack of the registry."""
    return exists(
        conn,
        "SELECT 1 FROM profile_revisions pr, jsonb_array_elements(pr.layers) l"
        " WHERE l->>'packId' IN (SELECT id::text FROM packs WHERE registry_id = %s) LIMIT 1",
        (registry_id,),
    )


def registry_view(conn: DbConnection, registry_id: UUID) -> dict[str, Any]:
    row = one(
        conn.execute(
            "SELECT r.*, (SELECT count(*) FROM packs p WHERE p.registry_id = r.id) AS pack_count FROM registries r"
            " WHERE r.id = %s",
            (registry_id,),
        ).fetchone()
    )
    return {
        "id": row["id"],
        "name": row["name"],
        "source": row["source"],
        "public": row["project_id"] is None,
        "lastSyncedAt": row["last_synced_at"],
        "lastSync": row["last_sync"],
        "packCount": row["pack_count"],
    }
