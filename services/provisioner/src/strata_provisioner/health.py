"""The health check of a Running cluster (Cluster API's MachineHealthCheck): beat finds the clusters
whose check is due (one indexed query), and this compares each one's Running machines with its
cloud's instances (one listing by ownership tag) and its Kubernetes Nodes (one list).

A machine whose instance is gone is unhealthy at once; one whose Node is NotReady (or missing) once
that has lasted the pool's `unhealthyTimeout`. Unhealthy machines are replaced by a new generation
planned like any other change (the old machine retired, a new one in its zone), unless more than
the pool's `maxUnhealthy` are unhealthy at once: then nothing of that pool is replaced (a broken
zone or network would otherwise have every node replaced) and the NodesHealthy condition says why.
A paused cluster, or one not Running, is not checked.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from strata_common.clouds.driver import GONE
from strata_common.config import Settings
from strata_common.db.queries import clusters, machines
from strata_common.db.types import DbPool
from strata_common.engine.conditions import FALSE, TRUE, set_condition
from strata_common.engine.events import append_event
from strata_common.engine.publish import Publisher
from strata_common.engine.runner import Dependencies
from strata_common.kube.access import NotReachable, cluster_access
from strata_common.kube.client import KubeError, condition_true
from strata_common.kube_steps import kept_client
from strata_common.model.cluster import ClusterSpec
from strata_common.plans import change

log = logging.getLogger(__name__)
UNHEALTHY_TIMEOUT_SECONDS = 300.0  # x the time scale, when the pool does not say


def _not_ready_nodes(pool: DbPool, settings: Settings, deps: Dependencies, cluster_id: UUID) -> set[str] | None:
    """Names of the cluster's Nodes that are not Ready; None when its API cannot be asked."""
    with pool.connection() as conn:
        try:
            access = cluster_access(conn, cluster_id, settings)
        except NotReachable:
            return None
    try:
        with kept_client(str(cluster_id), access, deps.kube) as client:
            nodes = client.list("v1", "Node")
    except KubeError as err:
        log.warning("health check of %s: the cluster's API did not answer: %s", cluster_id, err)
        return None
    return {n["metadata"]["name"] for n in nodes if not condition_true(n)}


def check_health(cluster_id: UUID, pool: DbPool, settings: Settings, deps: Dependencies, publisher: Publisher) -> str:
    """Check one cluster; plan the replacement of its unhealthy machines. Returns what it did."""
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT id, name, generation, spec, phase, paused FROM clusters WHERE id = %s AND deleted_at IS NULL",
            (cluster_id,),
        ).fetchone()
        if row is None or row["paused"] or row["phase"] != "Running":
            return "skipped"
        running = [r for r in machines.rows(conn, cluster_id, live_only=True) if r["phase"] == "Running"]
    spec = ClusterSpec.from_json(row["spec"])
    driver = deps.driver(spec.cloud_type, spec.cloud_account)
    owned = driver.list_owned({"strata:cluster": str(cluster_id), "strata:managed-by": "strata"}, ("instance",))
    launched = {r.tags.get("strata:node", "").split("/", 1)[-1] for r in owned if r.state != GONE}
    names = {r["name"] for r in running}
    gone = names - launched
    suspects = gone | ((_not_ready_nodes(pool, settings, deps, cluster_id) or set()) & names)
    with pool.connection() as conn, conn.transaction():
        now = conn.execute("SELECT generation, phase, paused FROM clusters WHERE id = %s FOR UPDATE",
                           (cluster_id,)).fetchone()  # fmt: skip
        if (now["generation"], now["phase"], now["paused"]) != (row["generation"], "Running", False):
            return "changed meanwhile"  # a change or a delete came after the look: what was seen is stale
        marked = {r["name"]: r for r in machines.unhealthy(conn, cluster_id, sorted(suspects))}
        replace, held = [], []
        for pool_spec in spec.pools:
            mine = [m for m in marked.values() if m["pool"] == pool_spec.name and m["unhealthy_for"] is not None]
            if not mine:
                continue
            if len(mine) > pool_spec.unhealthy_limit():
                held.append(f"{len(mine)} of {pool_spec.count} nodes of pool {pool_spec.name} are unhealthy "
                            f"({', '.join(sorted(m['name'] for m in mine))}), more than maxUnhealthy "
                            f"{pool_spec.max_unhealthy} allows ({pool_spec.unhealthy_limit()}): none is replaced "
                            "until fewer are (check the pool's zone and network)")  # fmt: skip
                continue
            timeout = pool_spec.unhealthy_timeout or UNHEALTHY_TIMEOUT_SECONDS * settings.localcloud_time_scale
            replace += [m["name"] for m in mine if m["name"] in gone or m["unhealthy_for"] >= timeout]
        generation = row["generation"]
        if held:
            set_condition(conn, cluster_id, "NodesHealthy", FALSE, "TooManyUnhealthy", "; ".join(held), generation,
                          "user-fixable")  # fmt: skip
        elif not any(m["unhealthy_for"] is not None for m in marked.values()):
            set_condition(conn, cluster_id, "NodesHealthy", TRUE, "Healthy", "", generation)
        ready: list[dict[str, Any]] = []
        if replace:
            for name in replace:
                why = "its instance is gone" if name in gone else "its Node is not Ready"
                append_event(conn, cluster_id, "warning", "provisioner", "NodeUnhealthy",
                             f"node {name} is unhealthy ({why}): it is replaced", {"machine": name})  # fmt: skip
            ready = change(conn, cluster_id, spec, settings.step_ready_grace, "provisioner", tuple(replace))
        else:
            clusters.health_due(conn, cluster_id, settings.health_interval)
    publisher.publish(ready)
    return f"replacing {', '.join(replace)}" if replace else ("held" if held else "healthy")
