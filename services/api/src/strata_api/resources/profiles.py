"""Cluster profiles: an ordered stack of packs; every change makes a new immutable revision."""

from __future__ import annotations

from flask import Blueprint

from strata_api.commands import profiles as commands
from strata_api.errors import ApiError
from strata_api.http import api, db, load_json, principal, reply, work
from strata_api.queries import profiles as queries
from strata_api.queries.profiles import own_profile, profile_ids, profile_view, revision_view
from strata_api.schemas import ProfileCreate, ProfileList, ProfileUpdate, ProfileView, RevisionView

bp = Blueprint("profiles", __name__, url_prefix="/v1/profiles")


@bp.post("")
@api("Create a cluster profile (revision 1)", role="operator", request_schema=ProfileCreate,
     responses={201: ProfileView, 409: None, 422: None}, idempotent=True)  # fmt: skip
def create_profile():
    data = load_json(ProfileCreate())
    with work() as unit:
        return reply(201, ProfileView, profile_view(unit.conn, commands.create_profile(unit, data)), unit.conn)


@bp.get("")
@api("List this project's profiles", responses={200: ProfileList})
def list_profiles():
    conn = db()
    return reply(
        200, ProfileList, {"items": [profile_view(conn, i) for i in profile_ids(conn, principal().project_id)]}
    )


@bp.get("/<profile_id>")
@api("Get a profile at its latest revision", responses={200: ProfileView, 404: None})
def get_profile(profile_id: str):
    conn = db()
    return reply(200, ProfileView, profile_view(conn, own_profile(conn, principal().project_id, profile_id)["id"]))


@bp.put("/<profile_id>")
@api("Change a profile's layers: makes a new revision", role="operator", request_schema=ProfileUpdate,
     responses={200: ProfileView, 404: None, 422: None})  # fmt: skip
def update_profile(profile_id: str):
    data = load_json(ProfileUpdate())
    with work() as unit:
        return reply(200, ProfileView, profile_view(unit.conn, commands.revise_profile(unit, profile_id, data)))


@bp.get("/<profile_id>/revisions/<int:revision>")
@api("Get one immutable revision of a profile", responses={200: RevisionView, 404: None})
def get_revision(profile_id: str, revision: int):
    conn = db()
    row = queries.revision(conn, own_profile(conn, principal().project_id, profile_id)["id"], revision)
    if row is None:
        raise ApiError(404, "not_found", f"profile {profile_id!r} has no revision {revision}")
    return reply(200, RevisionView, revision_view(row))


@bp.delete("/<profile_id>")
@api("Delete a profile no cluster uses", role="operator", responses={204: None, 404: None, 409: None})
def delete_profile(profile_id: str):
    with work() as unit:
        commands.delete_profile(unit, profile_id)
    return "", 204
