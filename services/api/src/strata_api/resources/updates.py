"""Update notifications: a cluster's (what each changes, its conflicts with the cluster's overrides),
their resolutions and apply (commands in strata_api.commands.updates), and the fleet's pending ones."""

from __future__ import annotations

from flask import Blueprint, request

from strata_api.commands import updates as commands
from strata_api.commands.dryrun import dry_run
from strata_api.http import DRY_RUN, api, db, dry_run_arg, int_arg, integer, load_json, principal, reply, work
from strata_api.schemas import FleetUpdateList, PlanView, ResolutionsInput, UpdateList, UpdateView

bp = Blueprint("updates", __name__, url_prefix="/v1")


@bp.get("/clusters/<cluster_id>/updates")
@api("The cluster's update notifications, newest first: the pending one with every change since the revision "
     "the cluster runs and its conflicts with the cluster's overrides",
     responses={200: UpdateList, 404: None})  # fmt: skip
def list_updates(cluster_id: str):
    return reply(200, UpdateList, {"items": commands.list_updates(db(), principal().project_id, cluster_id)})


@bp.get("/clusters/<cluster_id>/updates/<int:number>")
@api("One update notification", responses={200: UpdateView, 404: None})
def get_update(cluster_id: str, number: int):
    return reply(200, UpdateView, commands.show_update(db(), principal().project_id, cluster_id, number))


@bp.put("/clusters/<cluster_id>/updates/<int:number>/resolutions")
@api("Resolve conflicts of the pending update: per pack and path keep-override, take-profile or a value",
     role="operator", request_schema=ResolutionsInput,
     responses={200: UpdateView, 404: None, 409: None, 422: None})  # fmt: skip
def resolve(cluster_id: str, number: int):
    data = load_json(ResolutionsInput())
    with work() as unit:
        return reply(200, UpdateView, commands.resolve(unit, cluster_id, number, data["resolutions"]))


@bp.post("/clusters/<cluster_id>/updates/<int:number>/apply")
@api("Apply the pending update: the cluster moves to its revision (a new generation) with its overrides rebased; "
     "409 names every conflict not resolved yet (with dryRun=true: 200 and the plan)", role="operator",
     responses={200: PlanView, 202: UpdateView, 404: None, 409: None, 422: None},
     query={"dryRun": DRY_RUN})  # fmt: skip
def apply(cluster_id: str, number: int):
    with work() as unit:
        if dry_run_arg():
            return reply(200, PlanView, dry_run(unit, lambda: commands.apply(unit, cluster_id, number), cluster_id))
        return reply(202, UpdateView, commands.apply(unit, cluster_id, number))


@bp.get("/updates")
@api("The project's pending update notifications by cluster name; of one profile's clusters with `profile`",
     responses={200: FleetUpdateList},
     query={"profile": "profile id", "limit": integer("most items", 1, 1000)})  # fmt: skip
def fleet_updates():
    limit = int_arg("limit", 100, 1, 1000)
    items = commands.fleet_updates(db(), principal().project_id, request.args.get("profile"), limit)
    return reply(200, FleetUpdateList, {"items": items})
