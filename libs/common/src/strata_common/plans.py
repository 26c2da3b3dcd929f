"""Planning a cluster's change in the caller's transaction: the planner's steps and the machines it
adds or retires are written together, so no step runs for a machine that is not recorded. The API's
commands and the health check plan through here."""

from __future__ import annotations

from typing import Any

from strata_common.db.queries import machines
from strata_common.db.types import DbConnection
from strata_common.engine.plan import submit_plan
from strata_common.model.cluster import ClusterSpec
from strata_common.planner import Plan, plan_cluster


def plan_for(conn: DbConnection, cluster_id: Any, spec: ClusterSpec, unhealthy: tuple[str, ...] = ()) -> Plan:
    """The plan that brings the cluster from the machines it has to `spec`."""
    return plan_cluster(spec, machines.machines(conn, cluster_id), unhealthy)


def submit(conn: DbConnection, cluster_id: Any, generation: int, plan: Plan, grace: float,
           source: str = "api") -> list[dict[str, Any]]:  # fmt: skip
    """Write the plan's steps and machines; return the steps ready now (publish them after commit)."""
    ready = submit_plan(conn, cluster_id, generation, plan.steps, grace, source)
    machines.record_plan(conn, cluster_id, generation, plan)
    return ready
