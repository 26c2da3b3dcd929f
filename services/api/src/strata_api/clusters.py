"""Cluster read views of the engine: conditions, steps, and the event stream (paged and live SSE)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context

from strata_api.errors import ApiError
from strata_common.db.pool import get_pool
from strata_common.engine.conditions import list_conditions
from strata_common.engine.events import list_events
from strata_common.engine.steps import list_steps

bp = Blueprint("clusters", __name__, url_prefix="/v1/clusters")

KEEPALIVE_SECONDS = 15.0
STREAM_BATCH = 500


def _pool():
    return get_pool(current_app.config["STRATA_SETTINGS"])


def _cluster_id(raw: str) -> uuid.UUID:
    """The cluster's id if it exists, else 404."""
    try:
        cluster_id = uuid.UUID(raw)
    except ValueError:
        raise ApiError(404, "not_found", f"cluster {raw!r} not found") from None
    with _pool().connection() as conn:
        if conn.execute("SELECT 1 FROM clusters WHERE id = %s", (cluster_id,)).fetchone() is None:
            raise ApiError(404, "not_found", f"cluster {raw!r} not found")
    return cluster_id


def _int_arg(name: str, default: int, low: int, high: int, raw: str | None = None) -> int:
    value = request.args.get(name) if raw is None else raw
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be an integer", {name: "not an integer"}) from None
    if not low <= number <= high:
        raise ApiError(400, "invalid_parameter", f"{name} must be between {low} and {high}", {name: "out of range"})
    return number


@bp.get("/<cluster>/conditions")
def conditions(cluster: str):
    cluster_id = _cluster_id(cluster)
    with _pool().connection() as conn:
        return jsonify({"items": list_conditions(conn, cluster_id)})


@bp.get("/<cluster>/steps")
def steps(cluster: str):
    cluster_id = _cluster_id(cluster)
    generation = _int_arg("generation", 0, 0, 2**62) or None
    with _pool().connection() as conn:
        rows = list_steps(conn, cluster_id, generation)
    return jsonify({"items": [_step_view(row) for row in rows]})


def _step_view(row: dict[str, Any]) -> dict[str, Any]:
    view = {}
    for key, value in row.items():
        camel = key.split("_")[0] + "".join(part.title() for part in key.split("_")[1:])
        view[camel] = value.isoformat() if hasattr(value, "isoformat") else value
    return view


@bp.get("/<cluster>/events")
def events(cluster: str):
    cluster_id = _cluster_id(cluster)
    after = _int_arg("after", 0, 0, 2**62)
    limit = _int_arg("limit", 100, 1, 1000)
    with _pool().connection() as conn:
        items = list_events(conn, cluster_id, after, limit)
    return jsonify({"items": items, "nextAfter": items[-1]["id"] if items else after})


@bp.get("/<cluster>/events/stream")
def event_stream(cluster: str):
    """Server-Sent Events, resumable with Last-Event-ID (or ?after=); woken by LISTEN/NOTIFY."""
    cluster_id = _cluster_id(cluster)
    resume = request.headers.get("Last-Event-ID")
    after = _int_arg("Last-Event-ID", 0, 0, 2**62, resume) if resume else _int_arg("after", 0, 0, 2**62)
    pool = _pool()
    notifier = current_app.extensions["strata_notifier"]
    key = str(cluster_id)

    def generate():
        last = after
        yield "retry: 2000\n\n"
        while not notifier.closed:
            seen = notifier.version(key)
            with pool.connection() as conn:
                batch = list_events(conn, cluster_id, last, STREAM_BATCH)
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
