"""Clusters: create (validated against profile, account and cloud), list, get, move to another profile
revision, delete; engine views."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from uuid import UUID

from flask import Blueprint, Response, current_app, request, stream_with_context
from psycopg import Connection
from psycopg.types.json import Jsonb

from strata_api.errors import ApiError
from strata_api.http import api, db, int_arg, load_json, pool, principal, release_db, reply, transaction, uuid_arg
from strata_api.resources.cloudaccounts import own_account
from strata_api.resources.profiles import own_profile
from strata_api.schemas import (
    ClusterCreate,
    ClusterList,
    ClusterUpdate,
    ClusterView,
    ConditionList,
    EventList,
    KubeconfigView,
    StepList,
)
from strata_common.clouds import registry
from strata_common.engine.conditions import CONDITION_COLUMNS, condition_views, list_conditions
from strata_common.engine.events import list_events
from strata_common.engine.plan import bump_generation, submit_plan
from strata_common.engine.steps import list_steps
from strata_common.kube import access as kube_access
from strata_common.kube.access import NotReachable, cluster_access
from strata_common.packs.profiles import node_minimums
from strata_common.planner import plan_cluster

bp = Blueprint("clusters", __name__, url_prefix="/v1/clusters")

KEEPALIVE_SECONDS = 15.0
STREAM_BATCH = 500


def cluster_view(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    """The API's view of a cluster row; its conditions come along if the row carries them."""
    spec = row["spec"]
    conditions = row.get("condition_rows")
    return {
        "id": row["id"],
        "name": row["name"],
        "phase": row["phase"],
        "generation": row["generation"],
        "profile": {"id": spec["profile"]["id"], "revision": spec["profile"]["revision"]},
        "cloudAccount": spec["cloudAccount"],
        "cloud": spec["cloud"],
        "pools": spec["pools"],
        "conditions": list_conditions(conn, row["id"]) if conditions is None else condition_views(conditions),
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


_PAIRS = ", ".join(f"'{column}', {column}" for column in CONDITION_COLUMNS.split(", "))
WITH_CONDITIONS = (
    f", (SELECT coalesce(json_agg(json_build_object({_PAIRS})), '[]') FROM conditions"
    " WHERE cluster_id = clusters.id) AS condition_rows"
)


def own_cluster(conn: Connection, cluster_id: str, lock: bool = False, conditions: bool = False) -> dict[str, Any]:
    """The project's cluster (404 otherwise); with its conditions in the same query when asked."""
    row = conn.execute(
        "SELECT *" + (WITH_CONDITIONS if conditions else "") + " FROM clusters"
        " WHERE id = %s AND project_id = %s AND deleted_at IS NULL" + (" FOR UPDATE" if lock else ""),
        (uuid_arg(cluster_id, "cluster"), principal().project_id),
    ).fetchone()
    if row is None:
        raise ApiError(404, "not_found", f"cluster {cluster_id!r} not found")
    return row


def _placement_problems(account: dict[str, Any], data: dict[str, Any]) -> dict[str, str]:
    cloud, region = account["cloud"], data["cloud"]["region"]
    catalog = registry.catalog(cloud)
    assert catalog is not None, f"no catalog for {cloud}"  # the account schema admits only catalogued clouds
    regions, types = catalog.regions, catalog.instance_types
    problems: dict[str, str] = {}
    if cloud == "vsphere":
        if region != account["config"]["datacenter"]:
            problems["cloud.region"] = f"the account's datacenter is {account['config']['datacenter']!r}"
        zones = account["config"].get("faultDomains")
    elif region not in regions:
        problems["cloud.region"] = f"unknown {cloud} region {region!r}; known: {', '.join(sorted(regions))}"
        zones = None
    else:
        zones = regions[region]
    for i, pool_ in enumerate(data["pools"]):
        if zones is not None:
            for j, zone in enumerate(pool_["zones"]):
                if zone not in zones:
                    problems[f"pools.{i}.zones.{j}"] = f"zone {zone!r} is not in region {region!r}"
        if len(set(pool_["zones"])) != len(pool_["zones"]):
            problems[f"pools.{i}.zones"] = "a zone is listed twice"
        if pool_["instanceType"] not in types:
            problems[f"pools.{i}.instanceType"] = (
                f"unknown {cloud} instance type {pool_['instanceType']!r}; known: {', '.join(types)}"
            )
    return problems


def _profile_problems(
    layers: list[dict[str, Any]], cloud: str, data: dict[str, Any], conn: Connection
) -> dict[str, str]:
    problems: dict[str, str] = {}
    definitions = []
    for layer in layers:
        row = conn.execute("SELECT definition FROM packs WHERE id = %s", (layer["packId"],)).fetchone()
        definitions.append({**layer, "definition": row["definition"]})
        if cloud not in row["definition"]["cloudTypes"]:
            problems["cloudAccount"] = f"pack {layer['pack']}@{layer['version']} does not support cloud {cloud!r}"
    minimums = node_minimums(definitions)
    for i, pool_ in enumerate(data["pools"]):
        size = registry.catalog(cloud).instance_types.get(pool_["instanceType"])  # type: ignore[union-attr]
        if size is None:
            continue
        have = {"minCpu": size.cpu, "minMemoryMiB": size.memory_mib, "minDiskGiB": pool_["diskGiB"]}
        for key, unit in (("minCpu", "vCPU"), ("minMemoryMiB", "MiB of memory"), ("minDiskGiB", "GiB of disk")):
            if key in minimums and have[key] < minimums[key][0]:
                field = "diskGiB" if key == "minDiskGiB" else "instanceType"
                problems[f"pools.{i}.{field}"] = (
                    f"pack {minimums[key][1]} needs at least {minimums[key][0]} {unit} per node; "
                    f"pool {pool_['name']} has {have[key]}"
                )
    return problems


def _profile_revision(conn: Connection, ref: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """(profile, revision number, revision row) of a {id, revision?} reference; the latest by default."""
    profile = own_profile(conn, str(ref["id"]))
    revision = ref.get("revision") or profile["latest_revision"]
    row = conn.execute(
        "SELECT layers FROM profile_revisions WHERE profile_id = %s AND revision = %s", (profile["id"], revision)
    ).fetchone()
    if row is None:
        raise ApiError(422, "invalid", f"profile has no revision {revision}", {"profile.revision": "does not exist"})
    return profile, revision, row


def _raise_problems(problems: dict[str, str]) -> None:
    if problems:
        first = next(iter(problems.items()))
        raise ApiError(422, "invalid", f"{first[0]}: {first[1]}", problems)


@bp.post("")
@api("Create a cluster: answers 202 and hands the plan to the engine", role="operator",
     request_schema=ClusterCreate, responses={202: ClusterView, 404: None, 409: None, 422: None},
     idempotent=True)  # fmt: skip
def create_cluster():
    data = load_json(ClusterCreate())
    settings = current_app.config["STRATA_SETTINGS"]
    with transaction() as conn:
        profile, revision, revision_row = _profile_revision(conn, data["profile"])
        try:
            account = own_account(conn, data["cloudAccount"])
        except ApiError:
            raise ApiError(
                422, "invalid", "no such cloud account in this project", {"cloudAccount": "not found"}
            ) from None
        problems = _placement_problems(account, data)
        problems.update(_profile_problems(revision_row["layers"], account["cloud"], data, conn))
        _raise_problems(problems)
        spec = {
            "name": data["name"],
            "profile": {"id": str(profile["id"]), "revision": revision},
            "layers": revision_row["layers"],
            "cloudAccount": str(account["id"]),
            "cloudType": account["cloud"],
            "cloud": data["cloud"],
            "pools": data["pools"],
        }
        row = conn.execute(
            "INSERT INTO clusters (project_id, name, spec, phase, profile_id, profile_revision, cloud_account_id)"
            " VALUES (%s, %s, %s, 'Provisioning', %s, %s, %s)"
            " ON CONFLICT (project_id, name) WHERE deleted_at IS NULL DO NOTHING RETURNING *",
            (principal().project_id, data["name"], Jsonb(spec), profile["id"], revision, account["id"]),
        ).fetchone()
        if row is None:
            raise ApiError(409, "conflict", f"a cluster named {data['name']!r} exists", {"name": "already used"})
        ready = submit_plan(conn, row["id"], row["generation"], plan_cluster(spec), settings.step_ready_grace)
        response = reply(202, ClusterView, cluster_view(conn, row), conn)
    current_app.extensions["strata_publisher"].publish(ready)
    return response


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
@api("List clusters, newest last; filter by name, phase or profile", responses={200: ClusterList},
     query={"name": "exact name", "phase": "phase", "profile": "profile id", "limit": "1-200",
            "cursor": "from nextCursor"})  # fmt: skip
def list_clusters():
    limit = int_arg("limit", 50, 1, 200)
    after = _cursor(request.args.get("cursor"))
    profile = request.args.get("profile")
    with transaction() as conn:
        rows = conn.execute(
            "SELECT * FROM clusters WHERE project_id = %(p)s AND deleted_at IS NULL"
            " AND (%(name)s::text IS NULL OR name = %(name)s) AND (%(phase)s::text IS NULL OR phase = %(phase)s)"
            " AND (%(profile)s::text IS NULL OR profile_id::text = %(profile)s)"
            " AND (%(after_t)s::timestamptz IS NULL OR (created_at, id) > (%(after_t)s, %(after_id)s))"
            " ORDER BY created_at, id LIMIT %(limit)s",
            {
                "p": principal().project_id,
                "name": request.args.get("name"),
                "phase": request.args.get("phase"),
                "profile": profile,
                "after_t": after[0] if after else None,
                "after_id": after[1] if after else None,
                "limit": limit + 1,
            },
        ).fetchall()
        items = [cluster_view(conn, r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = base64.urlsafe_b64encode(
            json.dumps([last["created_at"].isoformat(), str(last["id"])]).encode()
        ).decode()
    return reply(200, ClusterList, {"items": items, "nextCursor": next_cursor})


@bp.get("/<cluster_id>")
@api("Get a cluster with its conditions", responses={200: ClusterView, 404: None})
def get_cluster(cluster_id: str):
    conn = db()
    return reply(200, ClusterView, cluster_view(conn, own_cluster(conn, cluster_id, conditions=True)))


@bp.patch("/<cluster_id>")
@api("Move a cluster to another profile revision: a new generation is planned at once (202)", role="operator",
     request_schema=ClusterUpdate, responses={202: ClusterView, 404: None, 409: None, 422: None})  # fmt: skip
def update_cluster(cluster_id: str):
    data = load_json(ClusterUpdate())
    settings = current_app.config["STRATA_SETTINGS"]
    ready: list[dict[str, Any]] = []
    with transaction() as conn:
        row = own_cluster(conn, cluster_id, lock=True)
        if row["phase"] == "Deleting":
            raise ApiError(409, "conflict", "the cluster is being deleted", {"phase": "Deleting"})
        profile, revision, revision_row = _profile_revision(conn, data["profile"])
        current = row["spec"]
        _raise_problems(_profile_problems(revision_row["layers"], current["cloudType"], current, conn))
        if (str(profile["id"]), revision) != (current["profile"]["id"], current["profile"]["revision"]):
            spec = {**current, "profile": {"id": str(profile["id"]), "revision": revision},
                    "layers": revision_row["layers"]}  # fmt: skip
            generation = bump_generation(conn, row["id"], spec)
            conn.execute(
                "UPDATE clusters SET profile_id = %s, profile_revision = %s WHERE id = %s",
                (profile["id"], revision, row["id"]),
            )
            ready = submit_plan(conn, row["id"], generation, plan_cluster(spec), settings.step_ready_grace)
        response = reply(202, ClusterView, cluster_view(conn, own_cluster(conn, cluster_id)), conn)
    current_app.extensions["strata_publisher"].publish(ready)
    return response


@bp.delete("/<cluster_id>")
@api("Delete a cluster: 202; it stays visible as Deleting until its resources are gone", role="operator",
     responses={202: ClusterView, 404: None})  # fmt: skip
def delete_cluster(cluster_id: str):
    settings = current_app.config["STRATA_SETTINGS"]
    with transaction() as conn:
        row = own_cluster(conn, cluster_id, lock=True)
        if row["phase"] != "Deleting":
            spec = {**row["spec"], "deleting": True}
            generation = bump_generation(conn, row["id"], spec)
            conn.execute("UPDATE clusters SET phase = 'Deleting' WHERE id = %s", (row["id"],))
            ready = submit_plan(conn, row["id"], generation, plan_cluster(spec), settings.step_ready_grace)
        else:
            ready = []
        response = reply(202, ClusterView, cluster_view(conn, own_cluster(conn, cluster_id)))
    current_app.extensions["strata_publisher"].publish(ready)
    return response


@bp.get("/<cluster_id>/kubeconfig")
@api("The cluster's admin kubeconfig; its server is the API load balancer", role="operator",
     responses={200: KubeconfigView, 404: None, 409: None})  # fmt: skip
def kubeconfig(cluster_id: str):
    conn = db()
    ident = own_cluster(conn, cluster_id)["id"]
    try:
        access = cluster_access(conn, ident, current_app.config["STRATA_SETTINGS"])
    except NotReachable as err:
        raise ApiError(409, "not_ready", f"{err}; retry later") from None
    return reply(200, KubeconfigView, {"endpoint": access.server, "kubeconfig": kube_access.kubeconfig(access)})


@bp.get("/<cluster_id>/conditions")
@api("The cluster's conditions in milestone order", responses={200: ConditionList, 404: None})
def conditions(cluster_id: str):
    conn = db()
    return reply(200, ConditionList, {"items": list_conditions(conn, own_cluster(conn, cluster_id)["id"])})


@bp.get("/<cluster_id>/steps")
@api(
    "The steps of the cluster's plans",
    responses={200: StepList, 404: None},
    query={"generation": "only this generation"},
)
def steps(cluster_id: str):
    generation = int_arg("generation", 0, 0, 2**62) or None
    conn = db()
    rows = list_steps(conn, own_cluster(conn, cluster_id)["id"], generation)
    return reply(200, StepList, {"items": [_step_view(row) for row in rows]})


def _step_view(row: dict[str, Any]) -> dict[str, Any]:
    view = {}
    for key, value in row.items():
        camel = key.split("_")[0] + "".join(part.title() for part in key.split("_")[1:])
        view[camel] = value.isoformat() if hasattr(value, "isoformat") else value
    return view


@bp.get("/<cluster_id>/events")
@api("The cluster's events, oldest first", responses={200: EventList, 404: None},
     query={"after": "event number to start after", "limit": "1-1000"})  # fmt: skip
def events(cluster_id: str):
    after = int_arg("after", 0, 0, 2**62)
    limit = int_arg("limit", 100, 1, 1000)
    conn = db()
    items = list_events(conn, own_cluster(conn, cluster_id)["id"], after, limit)
    return reply(200, EventList, {"items": items, "nextAfter": items[-1]["id"] if items else after})


@bp.get("/<cluster_id>/events/stream")
@api("Live events as Server-Sent Events; resume with Last-Event-ID", responses={200: None, 404: None},
     query={"after": "event number to start after"})  # fmt: skip
def event_stream(cluster_id: str):
    ident = own_cluster(db(), cluster_id)["id"]
    release_db()  # a stream may stay open for hours: it borrows a connection per batch instead
    resume = request.headers.get("Last-Event-ID")
    after = int_arg("Last-Event-ID", 0, 0, 2**62, resume) if resume else int_arg("after", 0, 0, 2**62)
    notifier = current_app.extensions["strata_notifier"]
    key = str(ident)

    def generate():
        last = after
        yield "retry: 2000\n\n"
        while not notifier.closed:
            seen = notifier.version(key)
            with pool().connection() as conn:
                batch = list_events(conn, ident, last, STREAM_BATCH)
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
