"""Clusters: create, list, get, change (profile revision, pools, pause), delete (commands in
strata_api.commands.clusters); kubeconfig, machines, conditions, steps and events."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from flask import Blueprint, Response, current_app, request, stream_with_context

from strata_api.commands import clusters as commands
from strata_api.commands.dryrun import dry_run
from strata_api.errors import ApiError
from strata_api.http import (
    DRY_RUN,
    api,
    choice_arg,
    db,
    dry_run_arg,
    int_arg,
    integer,
    load_json,
    one_of,
    pool,
    principal,
    release_db,
    reply,
    settings,
    work,
)
from strata_api.metrics import EVENT_STREAMS
from strata_api.queries import clusters as queries
from strata_api.queries.timeline import timeline as timeline_query
from strata_api.schemas import (
    ClusterCreate,
    ClusterList,
    ClusterUpdate,
    ClusterView,
    ConditionList,
    EventList,
    KubeconfigView,
    MachineList,
    PlanView,
    StepList,
    TimelineView,
)
from strata_common.db.queries import machines
from strata_common.engine.conditions import list_conditions
from strata_common.engine.events import list_events
from strata_common.engine.steps import list_steps
from strata_common.kube import access as kube_access
from strata_common.kube.access import NotReachable, cluster_access

bp = Blueprint("clusters", __name__, url_prefix="/v1/clusters")
AFTER = integer("event number to start after", 0, 2**62)

KEEPALIVE_SECONDS = 15.0
STREAM_BATCH = 500
DATABASE_WAIT_SECONDS = 1.0


def own_cluster_id(cluster_id: str) -> UUID:
    return queries.own_cluster_id(db(), principal().project_id, cluster_id)


@bp.post("")
@api("Create a cluster: answers 202 and hands the plan to the engine (with dryRun=true: 200 and the plan)",
     role="operator", request_schema=ClusterCreate,
     responses={200: PlanView, 202: ClusterView, 404: None, 409: None, 422: None}, query={"dryRun": DRY_RUN},
     idempotent=True)  # fmt: skip
def create_cluster():
    data = load_json(ClusterCreate())
    with work() as unit:
        if dry_run_arg():
            return reply(200, PlanView, dry_run(unit, lambda: commands.create_cluster(unit, data)))
        return reply(202, ClusterView, commands.create_cluster(unit, data), unit.conn, ready=True)


def _cursor(raw: str | None) -> tuple[datetime, UUID] | None:
    if not raw:
        return None
    try:
        created, ident = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return datetime.fromisoformat(created), UUID(ident)
    except (ValueError, TypeError):
        raise ApiError(
            400, "invalid_parameter", "cursor is not one this API returned", {"cursor": "malformed"}
        ) from None


@bp.get("")
@api("List clusters, newest last; filter by name, phase or profile, search names", responses={200: ClusterList},
     query={"name": "exact name", "search": "part of the name (any case)", "phase": "phase", "profile": "profile id",
            "limit": integer("page size", 1, 200), "cursor": "from nextCursor"})  # fmt: skip
def list_clusters():
    limit = int_arg("limit", 50, 1, 200)
    rows = queries.page(db(), principal().project_id, name=request.args.get("name"), phase=request.args.get("phase"),
                        profile=request.args.get("profile"), after=_cursor(request.args.get("cursor")),
                        limit=limit + 1, search=request.args.get("search") or None)  # fmt: skip
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = base64.urlsafe_b64encode(
            json.dumps([last["created_at"].isoformat(), str(last["id"])]).encode()
        ).decode()
    # the views arrive as JSON text and are passed on as they are (ClusterList: items, nextCursor)
    items = ",".join(row["view"] for row in rows[:limit])
    return Response(f'{{"items":[{items}],"nextCursor":{json.dumps(next_cursor)}}}', 200, mimetype="application/json")


@bp.get("/<cluster_id>")
@api("Get a cluster with its conditions", responses={200: ClusterView, 404: None})
def get_cluster(cluster_id: str):
    return reply(200, ClusterView, queries.own_view(db(), principal().project_id, cluster_id), ready=True)


@bp.patch("/<cluster_id>")
@api("Change a cluster: its profile revision, its pools (counts, instance types, zones, pools added or removed,"
     " rollout settings) and whether it is paused. A change is a new generation, planned at once: nodes whose"
     " template changed are replaced by rolling replacement (202; with dryRun=true: 200 and the plan)",
     role="operator", request_schema=ClusterUpdate, query={"dryRun": DRY_RUN},
     responses={200: PlanView, 202: ClusterView, 404: None, 409: None, 422: None})  # fmt: skip
def update_cluster(cluster_id: str):
    data = load_json(ClusterUpdate())
    with work() as unit:
        if dry_run_arg():
            return reply(200, PlanView, dry_run(unit, lambda: commands.update_cluster(unit, cluster_id, data),
                                                cluster_id))  # fmt: skip
        return reply(202, ClusterView, commands.update_cluster(unit, cluster_id, data), unit.conn, ready=True)


@bp.delete("/<cluster_id>")
@api("Delete a cluster: 202; it stays visible as Deleting until its resources are gone. `force=true` ends a "
     "delete under way that cannot finish: one sweep, then the cluster is gone and what the cloud did not let "
     "Strata delete is listed in GET /v1/leftovers", role="operator",
     responses={202: ClusterView, 404: None, 409: None},
     query={"force": one_of("true: end a stuck delete, recording leftovers", ("true", "false"))})  # fmt: skip
def delete_cluster(cluster_id: str):
    force = choice_arg("force", ("true", "false"), "false") == "true"
    with work() as unit:
        return reply(202, ClusterView, commands.delete_cluster(unit, cluster_id, force), ready=True)


@bp.get("/<cluster_id>/kubeconfig")
@api("The cluster's admin kubeconfig; its server is the API load balancer", role="operator",
     responses={200: KubeconfigView, 404: None, 409: None})  # fmt: skip
def kubeconfig(cluster_id: str):
    ident = own_cluster_id(cluster_id)
    try:
        access = cluster_access(db(), ident, settings())
    except NotReachable as err:
        raise ApiError(409, "not_ready", f"{err}; retry later") from None
    return reply(200, KubeconfigView, {"endpoint": access.server, "kubeconfig": kube_access.kubeconfig(access)})


@bp.get("/<cluster_id>/machines")
@api("The cluster's machines (nodes), with phase, template hash and instance; `all=true` adds deleted ones",
     responses={200: MachineList, 404: None},
     query={"all": one_of("true: deleted machines too", ("true", "false"))})  # fmt: skip
def list_machines(cluster_id: str):
    rows = machines.rows(db(), own_cluster_id(cluster_id), live_only=request.args.get("all") != "true")
    return reply(200, MachineList, {"items": [_machine_view(row) for row in rows]})


def _machine_view(row: dict[str, Any]) -> dict[str, Any]:
    return {"name": row["name"], "pool": row["pool"], "role": row["role"], "zone": row["zone"],
            "instanceType": row["template"]["instanceType"], "phase": row["phase"],
            "templateHash": row["template_hash"], "instanceId": row["instance_id"], "nodeName": row["node_name"],
            "retireReason": row["retire_reason"], "generation": row["generation"], "createdAt": row["created_at"],
            "readyAt": row["ready_at"], "deletedAt": row["deleted_at"]}  # fmt: skip


@bp.get("/<cluster_id>/conditions")
@api("The cluster's conditions in milestone order", responses={200: ConditionList, 404: None})
def conditions(cluster_id: str):
    return reply(200, ConditionList, {"items": list_conditions(db(), own_cluster_id(cluster_id))})


@bp.get("/<cluster_id>/steps")
@api(
    "The steps of the cluster's plans",
    responses={200: StepList, 404: None},
    query={"generation": integer("only this generation (0: all)", 0, 2**62)},
)
def steps(cluster_id: str):
    generation = int_arg("generation", 0, 0, 2**62) or None
    rows = list_steps(db(), own_cluster_id(cluster_id), generation)
    return reply(200, StepList, {"items": [_step_view(row) for row in rows]})


def _step_view(row: dict[str, Any]) -> dict[str, Any]:
    view = {}
    for key, value in row.items():
        camel = key.split("_")[0] + "".join(part.title() for part in key.split("_")[1:])
        view[camel] = value.isoformat() if hasattr(value, "isoformat") else value
    return view


@bp.get("/<cluster_id>/timeline")
@api("Where a generation's time went: each step and milestone with its queued, working and waiting seconds, "
     "and the critical path", responses={200: TimelineView, 404: None},
     query={"generation": integer("generation (default: the cluster's)", 1, 2**62)})  # fmt: skip
def timeline(cluster_id: str):
    generation = int_arg("generation", 0, 1, 2**62) or None
    return reply(200, TimelineView, timeline_query(db(), principal().project_id, cluster_id, generation))


@bp.get("/<cluster_id>/events")
@api("The cluster's events, oldest first", responses={200: EventList, 404: None},
     query={"after": AFTER, "limit": integer("page size", 1, 1000),
            "tail": one_of("true: the newest `limit` events after `after`", ("true", "false"))})  # fmt: skip
def events(cluster_id: str):
    after = int_arg("after", 0, 0, 2**62)
    limit = int_arg("limit", 100, 1, 1000)
    tail = choice_arg("tail", ("true", "false"), "false") == "true"
    items = list_events(db(), own_cluster_id(cluster_id), after, limit, newest=tail)
    return reply(200, EventList, {"items": items, "nextAfter": items[-1]["id"] if items else after}, ready=True)


@bp.get("/<cluster_id>/events/stream")
@api("Live events as Server-Sent Events; resume with Last-Event-ID", responses={200: None, 404: None},
     query={"after": AFTER})  # fmt: skip
def event_stream(cluster_id: str):
    ident = own_cluster_id(cluster_id)
    release_db()  # a stream may stay open for hours: it borrows a connection per batch instead
    resume = request.headers.get("Last-Event-ID")
    after = int_arg("Last-Event-ID", 0, 0, 2**62, resume) if resume else int_arg("after", 0, 0, 2**62)
    notifier = current_app.extensions["strata_notifier"]
    key = str(ident)

    def generate():
        EVENT_STREAMS.inc()
        try:
            yield "retry: 2000\n\n"
            yield from follow()
        finally:
            EVENT_STREAMS.dec()

    def follow():
        last = after
        while not notifier.closed:
            seen = notifier.version(key)
            try:
                with pool().connection() as conn:
                    batch = list_events(conn, ident, last, STREAM_BATCH)
            except psycopg.OperationalError:  # a restart or failover: the stream waits, then reads on from `last`
                yield ": the database is unavailable; waiting\n\n"
                time.sleep(DATABASE_WAIT_SECONDS)
                continue
            for event in batch:
                yield f"id: {event['id']}\nevent: {event['level']}\ndata: {json.dumps(event)}\n\n"
                last = event["id"]
            if not batch and not notifier.wait(key, seen, KEEPALIVE_SECONDS):
                yield ": keepalive\n\n"

    return Response(
        stream_with_context(generate()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
