"""Submitting a plan: in the caller's transaction, with the desired-state change that caused it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from strata_common.db.types import DbConnection
from strata_common.engine import steps
from strata_common.engine.conditions import UNKNOWN, set_condition
from strata_common.engine.events import append_event
from strata_common.engine.model import StepSpec, validate_plan


class StalePlan(ValueError):
    """The plan was made for a generation the cluster has already moved past."""


def bump_generation(conn: DbConnection, cluster_id: UUID, spec: dict[str, Any]) -> int:
    """Record a new desired spec; return the cluster's new generation."""
    row = conn.execute(
        "UPDATE clusters SET spec = %s, generation = generation + 1, updated_at = now() WHERE id = %s"
        " RETURNING generation",
        (Jsonb(spec), cluster_id),
    ).fetchone()
    if row is None:
        raise LookupError(f"cluster {cluster_id} does not exist")
    return row["generation"]


def submit_plan(
    conn: DbConnection, cluster_id: UUID, generation: int, specs: list[StepSpec], grace: float, source: str = "api"
) -> list[dict[str, Any]]:
    """Write the plan's steps and supersede older generations' unstarted steps.

    Returns the steps that are ready now; publish them after the transaction commits.
    """
    validate_plan(specs)
    current = conn.execute("SELECT generation FROM clusters WHERE id = %s FOR UPDATE", (cluster_id,)).fetchone()
    if current is None:
        raise LookupError(f"cluster {cluster_id} does not exist")
    if current["generation"] != generation:
        raise StalePlan(f"plan for generation {generation}, cluster is at {current['generation']}")
    superseded = steps.supersede_older(conn, cluster_id, generation)
    ready = steps.insert_plan(conn, cluster_id, generation, specs, grace)
    for milestone in dict.fromkeys(s.condition for s in specs if s.condition):
        set_condition(conn, cluster_id, milestone, UNKNOWN, "Pending", "waiting for earlier steps", generation)
    set_condition(conn, cluster_id, "Ready", UNKNOWN, "Reconciling", f"generation {generation}", generation)
    append_event(
        conn,
        cluster_id,
        "info",
        source,
        "PlanSubmitted",
        f"generation {generation}: {len(specs)} steps planned, {superseded} older steps superseded",
        {"generation": generation, "steps": [s.name for s in specs], "superseded": superseded},
    )
    return ready
