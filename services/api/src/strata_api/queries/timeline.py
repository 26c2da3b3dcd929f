"""A generation's timeline: each step and milestone with when it became due, started and ended, its time
split into queued (due, not claimed), working (its handler ran) and waiting (requeued until the cloud
expects a resource ready, or backing off after a failure), and the critical path through the steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from strata_api.errors import ApiError
from strata_api.queries.clusters import own_cluster
from strata_common.db.types import DbConnection
from strata_common.engine.conditions import MILESTONES

SPLIT = ("queued", "working", "waiting")


def _seconds(later: datetime | None, earlier: datetime) -> float | None:
    return None if later is None else round((later - earlier).total_seconds(), 3)


def critical_path(steps: list[dict[str, Any]]) -> list[str]:
    """From the step that ended last back to the first: at each step, the dependency that ended last (the
    one it waited for). Steps not ended yet count as ending now, after every ended one."""
    by_name = {step["name"]: step for step in steps}

    def ended(step: dict[str, Any]) -> tuple[bool, datetime]:
        return step["finished_at"] is None, step["finished_at"] or step["due"]

    path = [max(steps, key=ended)]
    while deps := [by_name[name] for name in path[-1]["depends_on"] if name in by_name]:
        path.append(max(deps, key=ended))
    return [step["name"] for step in reversed(path)]


def timeline(conn: DbConnection, project_id: UUID, cluster_id: str, generation: int | None) -> dict[str, Any]:
    cluster = own_cluster(conn, project_id, cluster_id)
    number = generation or cluster["generation"]
    steps = conn.execute(
        "SELECT name, condition, depends_on, status, attempts, coalesce(due_at, started_at, created_at) AS due,"
        " started_at, finished_at, queued_seconds, working_seconds, waiting_seconds FROM steps"
        " WHERE cluster_id = %s AND generation = %s ORDER BY coalesce(due_at, started_at, created_at), id",
        (cluster["id"], number),
    ).fetchall()
    if not steps:
        raise ApiError(404, "not_found", f"cluster {cluster['name']!r} has no steps in generation {number}")
    start = min(step["due"] for step in steps)
    done = all(step["finished_at"] is not None for step in steps)
    end = max(step["finished_at"] for step in steps) if done else None
    shown = [
        {
            "name": step["name"],
            "milestone": step["condition"],
            "dependsOn": step["depends_on"],
            "status": step["status"],
            "attempts": step["attempts"],
            "dueAt": step["due"].isoformat(),
            "startedAt": step["started_at"].isoformat() if step["started_at"] else None,
            "finishedAt": step["finished_at"].isoformat() if step["finished_at"] else None,
            "offsetSeconds": _seconds(step["due"], start),
            "seconds": _seconds(step["finished_at"], step["due"]),
            **{f"{part}Seconds": round(step[f"{part}_seconds"], 3) for part in SPLIT},
        }
        for step in steps
    ]
    milestones = []
    for condition, title in MILESTONES.items():
        mine = [step for step in steps if step["condition"] == condition]
        if not mine:
            continue
        first = min(step["due"] for step in mine)
        last = None if any(s["finished_at"] is None for s in mine) else max(s["finished_at"] for s in mine)
        milestones.append({"milestone": condition, "title": title, "offsetSeconds": _seconds(first, start),
                           "seconds": _seconds(last, first)})  # fmt: skip
    path = critical_path(steps)
    on_path = [step for step in steps if step["name"] in path]
    return {
        "cluster": str(cluster["id"]),
        "generation": number,
        "startedAt": start.isoformat(),
        "finishedAt": end.isoformat() if end else None,
        "seconds": _seconds(end, start),
        "steps": shown,
        "milestones": milestones,
        "criticalPath": {"steps": path,
                         **{f"{part}Seconds": round(sum(s[f"{part}_seconds"] for s in on_path), 3) for part in SPLIT}},
    }  # fmt: skip
