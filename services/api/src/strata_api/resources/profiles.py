"""Cluster profiles: an ordered stack of packs; every change makes a new immutable revision."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from psycopg import Connection
from psycopg.types.json import Jsonb

from strata_api.errors import ApiError
from strata_api.http import api, load_json, principal, reply, transaction, uuid_arg
from strata_api.schemas import ProfileCreate, ProfileList, ProfileUpdate, ProfileView, RevisionView
from strata_common.packs.profiles import resolve_layers

bp = Blueprint("profiles", __name__, url_prefix="/v1/profiles")

STORED_KEYS = ("pack", "version", "layer", "packId", "digest", "values")


def find_pack(conn: Connection):
    """Look up name@version among this project's registries first, then the public one."""

    def find(name: str, version: str) -> dict[str, Any] | None:
        return conn.execute(
            "SELECT p.id, p.name, p.version, p.layer, p.digest, p.definition FROM packs p"
            " JOIN registries r ON r.id = p.registry_id"
            " WHERE p.name = %s AND p.version = %s AND (r.project_id IS NULL OR r.project_id = %s)"
            " ORDER BY r.project_id NULLS LAST LIMIT 1",
            (name, version, principal().project_id),
        ).fetchone()

    return find


def _resolve(conn: Connection, layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    resolved, problems = resolve_layers(layers, find_pack(conn))
    if problems:
        first = next(iter(problems.items()))
        raise ApiError(422, "invalid_profile", f"{first[0]}: {first[1]}", problems)
    return [{key: layer[key] for key in STORED_KEYS} for layer in resolved]


def profile_view(conn: Connection, profile_id) -> dict[str, Any]:
    row = conn.execute(
        "SELECT p.*, r.revision, r.layers FROM profiles p JOIN profile_revisions r ON r.profile_id = p.id"
        " AND r.revision = p.latest_revision WHERE p.id = %s",
        (profile_id,),
    ).fetchone()
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "revision": row["revision"],
        "layers": row["layers"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def own_profile(conn: Connection, profile_id: str, lock: bool = False) -> dict[str, Any]:
    row = conn.execute(
        "SELECT * FROM profiles WHERE id = %s AND project_id = %s" + (" FOR UPDATE" if lock else ""),
        (uuid_arg(profile_id, "profile"), principal().project_id),
    ).fetchone()
    if row is None:
        raise ApiError(404, "not_found", f"profile {profile_id!r} not found")
    return row


@bp.post("")
@api("Create a cluster profile (revision 1)", role="operator", request_schema=ProfileCreate,
     responses={201: ProfileView, 409: None, 422: None}, idempotent=True)  # fmt: skip
def create_profile():
    data = load_json(ProfileCreate())
    with transaction() as conn:
        layers = _resolve(conn, data["layers"])
        row = conn.execute(
            "INSERT INTO profiles (project_id, name, description) VALUES (%s, %s, %s)"
            " ON CONFLICT (project_id, name) DO NOTHING RETURNING id",
            (principal().project_id, data["name"], data["description"]),
        ).fetchone()
        if row is None:
            raise ApiError(409, "conflict", f"a profile named {data['name']!r} exists", {"name": "already used"})
        conn.execute(
            "INSERT INTO profile_revisions (profile_id, revision, layers) VALUES (%s, 1, %s)",
            (row["id"], Jsonb(layers)),
        )
        return reply(201, ProfileView, profile_view(conn, row["id"]), conn)


@bp.get("")
@api("List this project's profiles", responses={200: ProfileList})
def list_profiles():
    with transaction() as conn:
        ids = conn.execute(
            "SELECT id FROM profiles WHERE project_id = %s ORDER BY name", (principal().project_id,)
        ).fetchall()
        return reply(200, ProfileList, {"items": [profile_view(conn, r["id"]) for r in ids]})


@bp.get("/<profile_id>")
@api("Get a profile at its latest revision", responses={200: ProfileView, 404: None})
def get_profile(profile_id: str):
    with transaction() as conn:
        return reply(200, ProfileView, profile_view(conn, own_profile(conn, profile_id)["id"]))


@bp.put("/<profile_id>")
@api("Change a profile's layers: makes a new revision", role="operator", request_schema=ProfileUpdate,
     responses={200: ProfileView, 404: None, 422: None})  # fmt: skip
def update_profile(profile_id: str):
    data = load_json(ProfileUpdate())
    with transaction() as conn:
        profile = own_profile(conn, profile_id, lock=True)
        layers = _resolve(conn, data["layers"])
        revision = profile["latest_revision"] + 1
        conn.execute(
            "INSERT INTO profile_revisions (profile_id, revision, layers) VALUES (%s, %s, %s)",
            (profile["id"], revision, Jsonb(layers)),
        )
        conn.execute(
            "UPDATE profiles SET latest_revision = %s, description = coalesce(%s, description), updated_at = now()"
            " WHERE id = %s",
            (revision, data.get("description"), profile["id"]),
        )
        return reply(200, ProfileView, profile_view(conn, profile["id"]))


@bp.get("/<profile_id>/revisions/<int:revision>")
@api("Get one immutable revision of a profile", responses={200: RevisionView, 404: None})
def get_revision(profile_id: str, revision: int):
    with transaction() as conn:
        profile = own_profile(conn, profile_id)
        row = conn.execute(
            "SELECT * FROM profile_revisions WHERE profile_id = %s AND revision = %s", (profile["id"], revision)
        ).fetchone()
    if row is None:
        raise ApiError(404, "not_found", f"profile {profile_id!r} has no revision {revision}")
    return reply(
        200,
        RevisionView,
        {
            "profileId": row["profile_id"],
            "revision": row["revision"],
            "layers": row["layers"],
            "createdAt": row["created_at"],
        },
    )


@bp.delete("/<profile_id>")
@api("Delete a profile no cluster uses", role="operator", responses={204: None, 404: None, 409: None})
def delete_profile(profile_id: str):
    with transaction() as conn:
        profile = own_profile(conn, profile_id, lock=True)
        if conn.execute(
            "SELECT 1 FROM clusters WHERE profile_id = %s AND deleted_at IS NULL LIMIT 1", (profile["id"],)
        ).fetchone():
            raise ApiError(409, "in_use", "clusters use this profile; delete them first")
        conn.execute("DELETE FROM profiles WHERE id = %s", (profile["id"],))
    return "", 204
