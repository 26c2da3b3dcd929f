"""Planning a cluster's change in the caller's transaction: the planner's steps and the machines it
adds or retires are written together, so no step runs for a machine that is not recorded. The API's
commands and the health check plan through here."""

from __future__ import annotations

from typing import Any

from strata_common.db.queries import machines
from strata_common.db.types import DbConnection
from strata_common.engine.plan import bump_generation, submit_plan
from strata_common.model.cluster import ClusterSpec
from strata_common.planner import Plan, plan_cluster


def submit(conn: DbConnection, cluster_id: Any, generation: int, plan: Plan, grace: float,
           source: str = "api") -> list[dict[str, Any]]:  # fmt: skip
    """Write the plan's steps and machines; return the steps ready now (publish them after commit)."""
    ready = submit_plan(conn, cluster_id, generation, plan.steps, grace, source)
    machines.record_plan(conn, cluster_id, generation, plan)
    return ready


def change(conn: DbConnection, cluster_id: Any, spec: ClusterSpec, grace: float, source: str = "api",
           unhealthy: tuple[str, ...] = ()) -> list[dict[str, Any]]:  # fmt: skip
    """Make `spec` the cluster's desired state at a new generation and plan it from its machines: a Running
    cluster is Updating (no health check is due) until the plan's last step. Returns the steps ready now."""
    generation = bump_generation(conn, cluster_id, spec.to_json())
    conn.execute(
        "UPDATE clusters SET profile_id = %s, profile_revision = %s, health_due_at = NULL,"
        " phase = CASE WHEN phase = 'Running' THEN 'Updating' ELSE phase END WHERE id = %s",
        (spec.profile_id, spec.profile_revision, cluster_id),
    )
    return submit(
        conn, cluster_id, generation, plan_cluster(spec, machines.machines(conn, cluster_id), unhealthy), grace, source
    )
