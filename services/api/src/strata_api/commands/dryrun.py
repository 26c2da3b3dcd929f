"""Dry runs: a command (create, change, apply an update) run for real inside a savepoint, the plan it wrote
read back, then everything rolled back and nothing published. No step row, machine, cloud call or
Kubernetes write is left, and the plan is the planner's own, not a second implementation of it. The
plan comes with what its pack steps would do to the cluster's objects (asked of the cluster's API
server with dryRun=All) and its expected duration (the cloud driver's latency model)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg

from strata_api.commands import Work
from strata_api.commands.estimate import expected_duration
from strata_api.commands.pack_preview import packs_preview
from strata_api.queries.clusters import own_cluster_id
from strata_common.model.cluster import ClusterSpec


def dry_run(work: Work, command: Callable[[], dict[str, Any]], cluster_id: str | None = None) -> dict[str, Any]:
    """The plan `command` makes for the cluster (`cluster_id`, or the one its answer names)."""
    before: dict[str, Any] = {"generation": 0, "machines": set()}
    if cluster_id is not None:
        known = own_cluster_id(work.conn, work.project_id, cluster_id)
        before = {"generation": _generation(work, known), "machines": _machines(work, known)}
    plan: dict[str, Any] = {}
    with work.conn.transaction():
        answer = command()
        known = own_cluster_id(work.conn, work.project_id, cluster_id or answer["id"])
        generation = _generation(work, known)
        steps = []
        if generation != before["generation"]:
            steps = work.conn.execute(
                'SELECT name, queue, condition AS milestone, depends_on AS "dependsOn" FROM steps'
                " WHERE cluster_id = %s AND generation = %s ORDER BY id",
                (known, generation),
            ).fetchall()
        rows = work.conn.execute(
            "SELECT name, pool, zone, phase, retire_reason FROM machines WHERE cluster_id = %s AND phase <> 'Deleted'"
            " ORDER BY name",
            (known,),
        ).fetchall()
        row = work.conn.execute(
            "SELECT spec, status ->> 'endpoint' IS NOT NULL AS built FROM clusters WHERE id = %s", (known,)
        ).fetchone()
        spec, built = ClusterSpec.from_json(row["spec"]), row["built"]
        plan = {
            "dryRun": True,
            "generation": generation,
            "steps": steps,
            "adds": [{"machine": r["name"], "pool": r["pool"], "zone": r["zone"]}
                     for r in rows if r["name"] not in before["machines"]],
            "retires": [{"machine": r["name"], "pool": r["pool"], "reason": r["retire_reason"]}
                        for r in rows if r["retire_reason"] and r["name"] in before["machines"]],
        }  # fmt: skip
        raise psycopg.Rollback
    work.ready.clear()
    plan["expected"] = expected_duration(work.conn, work.project_id, work.settings, spec, plan, built)
    plan["kubernetes"] = packs_preview(work.conn, work.settings, known if cluster_id else None, spec, plan["steps"])
    return plan


def _generation(work: Work, cluster_id: UUID) -> int:
    row = work.conn.execute("SELECT generation FROM clusters WHERE id = %s", (cluster_id,)).fetchone()
    return int(row["generation"]) if row else 0


def _machines(work: Work, cluster_id: UUID) -> set[str]:
    rows = work.conn.execute(
        "SELECT name FROM machines WHERE cluster_id = %s AND phase <> 'Deleted'", (cluster_id,)
    ).fetchall()
    return {row["name"] for row in rows}
