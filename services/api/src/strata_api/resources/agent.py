"""The agent API: what a cluster's management agent pulls (its cluster's desired add-on state) and
reports (what it applied, the Nodes, the drift it corrected), with its own token, good for its one
cluster only; and the tokens, which an operator mints (shown once) and revokes."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any
from uuid import UUID

from flask import Blueprint, current_app, g, request

from strata_api.auth import forget_agent
from strata_api.errors import ApiError
from strata_api.http import api, db, load_json, release_db, reply, settings, transaction
from strata_api.resources.clusters import own_cluster_id
from strata_api.schemas.agent import AgentStatus, AgentToken, Desired
from strata_common.db.agents import (
    AgentPrincipal,
    issue_agent_token,
    mark_reporting,
    record_report,
    revoke_agent_tokens,
    rotate_agent_token,
)
from strata_common.engine import steps
from strata_common.engine.events import append_event
from strata_common.kube.agent_pack import PACK as AGENT_PACK
from strata_common.kube.agent_pack import VERSION as AGENT_VERSION
from strata_common.kube.agent_pack import agent_objects
from strata_common.model.cluster import PACK_LAYERS, ClusterSpec
from strata_common.packs.rendering import RenderError, rendered_pack

bp = Blueprint("agent", __name__, url_prefix="/v1")
LONG_POLL_SECONDS = 30.0  # the longest an agent's poll is held
_held: threading.BoundedSemaphore | None = None  # this process's long polls (at most half its threads)
_held_lock = threading.Lock()
AGENT_ROLE = "viewer"  # documentation only: the agent API checks the agent's cluster (AgentPrincipal.can);
# a user's token is refused there (403), as an agent's is everywhere else


def _agent(cluster_id: str) -> AgentPrincipal:
    """The calling agent, if `cluster_id` is its cluster (another cluster's is not found: 404)."""
    agent: AgentPrincipal = g.principal
    if cluster_id != str(agent.cluster_id):
        raise ApiError(404, "not_found", f"cluster {cluster_id} not found")
    return agent


def _cluster(cluster_id: UUID) -> tuple[int, ClusterSpec]:
    row = db().execute("SELECT generation, spec FROM clusters WHERE id = %s", (cluster_id,)).fetchone()
    if row is None:
        raise ApiError(404, "not_found", f"cluster {cluster_id} not found")
    return row["generation"], ClusterSpec.from_json(row["spec"])


def desired_tag(cluster_id: UUID, generation: int, spec: ClusterSpec) -> str:
    """The desired state's ETag, from what it is rendered from (packs are immutable by id): a poll while
    nothing changed renders nothing. A new generation is a new state (the agent reports it applied)."""
    source = [str(cluster_id), generation, [layer.to_json() for layer in spec.layers], spec.overrides,
              spec.management.mode, AGENT_VERSION, settings().agent_image, settings().agent_api_url,
              settings().agent_interval]  # fmt: skip
    return '"' + hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()[:32] + '"'


def desired_state(cluster_id: UUID, generation: int, spec: ClusterSpec) -> dict[str, Any]:
    """The cluster's CNI, CSI and add-on packs of its current generation, rendered with effective values;
    in pull mode the agent's own pack right after the CNI."""
    conn = db()
    packs = []
    for layer in spec.layers:
        if layer.layer not in PACK_LAYERS:
            continue
        try:
            entry, objects = rendered_pack(conn, spec, layer.pack)
        except RenderError as err:
            raise ApiError(409, "conflict", f"the cluster's desired state cannot be rendered: {err}") from None
        packs.append({"pack": entry.pack, "version": entry.version, "layer": entry.layer, "objects": objects})
        if entry.layer == "cni" and spec.pulled:
            packs.append({"pack": AGENT_PACK, "version": AGENT_VERSION, "layer": "system",
                          "objects": agent_objects(str(cluster_id), settings())})  # fmt: skip
    return {"cluster": cluster_id, "generation": generation, "packs": packs}


def _long_polls() -> threading.BoundedSemaphore:
    global _held
    with _held_lock:
        if _held is None:
            _held = threading.BoundedSemaphore(min(settings().agent_long_polls, settings().api_threads // 2))
        return _held


def _until_changed(cluster_id: UUID, seen: tuple[int, int], tag: str, wait: float) -> tuple[int, ClusterSpec] | None:
    """Hold the poll, with no database connection, until the cluster's news (its events: a new generation
    is one) changes its desired state, or `wait` seconds pass (None)."""
    notifier = current_app.extensions["strata_notifier"]
    deadline = time.monotonic() + wait
    release_db()
    while (left := deadline - time.monotonic()) > 0 and notifier.wait(str(cluster_id), seen, left):
        if notifier.closed:
            return None
        seen = notifier.version(str(cluster_id))
        generation, spec = _cluster(cluster_id)
        release_db()
        if desired_tag(cluster_id, generation, spec) != tag:
            return generation, spec
    return None


@bp.get("/agent/clusters/<cluster_id>/desired")
@api("The cluster's desired add-on state, for its agent (If-None-Match with the last ETag: 304 while it "
     "is the same; with ?wait=SECONDS, up to 30, the answer waits for a change that long)", role=AGENT_ROLE,
     responses={200: Desired, 304: None, 403: None, 404: None})  # fmt: skip
def desired(cluster_id: str):
    agent = _agent(cluster_id)
    seen = current_app.extensions["strata_notifier"].version(str(agent.cluster_id))  # before the read: no news lost
    generation, spec = _cluster(agent.cluster_id)
    tag = desired_tag(agent.cluster_id, generation, spec)
    wait = min(LONG_POLL_SECONDS, max(0.0, request.args.get("wait", 0.0, type=float)))
    if request.headers.get("If-None-Match") == tag and wait > 0 and _long_polls().acquire(blocking=False):
        try:
            changed = _until_changed(agent.cluster_id, seen, tag, wait)
        finally:
            _long_polls().release()
        if changed is not None:
            generation, spec = changed
            tag = desired_tag(agent.cluster_id, generation, spec)
    if request.headers.get("If-None-Match") == tag:
        return "", 304, {"ETag": tag}
    body = Desired().dump(desired_state(agent.cluster_id, generation, spec))
    response, status = reply(200, Desired, body, ready=True)
    response.headers["ETag"] = tag
    return response, status


@bp.post("/agent/clusters/<cluster_id>/status")
@api("The agent's report: the generation it applied, each pack's state, the Nodes, the drift it corrected",
     role=AGENT_ROLE, request_schema=AgentStatus, responses={204: None, 403: None, 404: None, 422: None})  # fmt: skip
def status(cluster_id: str):
    agent = _agent(cluster_id)
    report = load_json(AgentStatus())
    with transaction() as conn:
        record_report(conn, agent.cluster_id, report["generation"], report)
        if mark_reporting(conn, agent.cluster_id, report["generation"]):
            append_event(conn, agent.cluster_id, "info", "agent", "AgentConnected",
                         f"the agent reports (it applied generation {report['generation']})")  # fmt: skip
        if report["drift"]:
            append_event(conn, agent.cluster_id, "warning", "agent", "DriftCorrected",
                         f"the agent applied again what changed outside Strata: {', '.join(report['drift'])}",
                         {"objects": report["drift"]})  # fmt: skip
        waiting = steps.wake_waiting(conn, agent.cluster_id, "addons", report["generation"],
                                     settings().step_ready_grace)  # fmt: skip
    current_app.extensions["strata_publisher"].publish(waiting)  # the steps waiting on this report look at once
    return "", 204


@bp.post("/agent/clusters/<cluster_id>/token")
@api("A new token for the agent (its current one ends within 5 minutes)", role=AGENT_ROLE,
     responses={201: AgentToken, 403: None, 404: None})  # fmt: skip
def rotate(cluster_id: str):
    agent = _agent(cluster_id)
    with transaction() as conn:
        token, expires = rotate_agent_token(conn, agent, settings().agent_token_seconds)
    return reply(201, AgentToken, {"token": token, "expiresAt": expires})


@bp.post("/clusters/<cluster_id>/agent/token")
@api("A token for the cluster's agent, good for that cluster's agent API only (shown once)", role="operator",
     responses={201: AgentToken, 404: None})  # fmt: skip
def mint(cluster_id: str):
    ident = own_cluster_id(cluster_id)
    with transaction() as conn:
        token, expires = issue_agent_token(conn, ident, settings().agent_token_seconds)
    return reply(201, AgentToken, {"token": token, "expiresAt": expires})


@bp.delete("/clusters/<cluster_id>/agent/tokens")
@api("Revoke every token of the cluster's agent", role="operator", responses={204: None, 404: None})
def revoke(cluster_id: str):
    ident = own_cluster_id(cluster_id)
    with transaction() as conn:
        revoke_agent_tokens(conn, ident)
    forget_agent(ident)
    return "", 204
