"""The health check of Running clusters (Cluster API's MachineHealthCheck): beat finds the clusters
whose check is due (one indexed query) and sends them in batches; this compares each one's Running
machines with its cloud's instances (one listing by ownership tag per cloud account and batch) and
its Kubernetes Nodes (one list per cluster, several clusters asked at once). A healthy cluster costs
no write.

A machine whose instance is gone is unhealthy at once; one whose Node is NotReady (or missing) once
that has lasted the pool's `unhealthyTimeout`. Unhealthy machines are replaced by a new generation
planned like any other change (the old machine retired, a new one in its zone), unless more than
the pool's `maxUnhealthy` are unhealthy at once: then nothing of that pool is replaced (a broken
zone or network would otherwise have every node replaced) and the NodesHealthy condition says why.
A paused cluster, or one not Running, is not checked. A checked cluster whose last CIS scan is older than
STRATA_SCAN_INTERVAL is scanned again (its Scanned condition and a `ClusterScanned` event say the totals).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

from strata_common.cis.scans import NotScannable, scan_cluster, summary
from strata_common.clouds.driver import GONE
from strata_common.config import Settings
from strata_common.db.queries import machines
from strata_common.db.types import DbPool
from strata_common.engine.conditions import FALSE, TRUE, set_condition
from strata_common.engine.events import append_event
from strata_common.engine.publish import Publisher
from strata_common.engine.runner import Dependencies
from strata_common.kube.access import KubeAccess, cluster_accesses
from strata_common.kube.client import KubeError, condition_true
from strata_common.kube_steps import kept_client
from strata_common.model.cluster import ClusterSpec
from strata_common.plans import change

log = logging.getLogger(__name__)
UNHEALTHY_TIMEOUT_SECONDS = 300.0  # x the time scale, when the pool does not say
ASKED_AT_ONCE = 8  # clusters whose API a batch asks at the same time (a slow one does not hold up the rest)

# A pull-mode cluster's Nodes are those its agent last reported (if it reported within its agentTimeout).
DUE = """
SELECT c.id, c.generation, c.spec, n.status = 'True' AND n.observed_generation = c.generation AS known_healthy,
       CASE WHEN r.reported_at >= now() - make_interval(secs => (c.spec -> 'management' ->> 'agentTimeout')::float)
            THEN r.report -> 'nodes' END AS reported_nodes
FROM clusters c LEFT JOIN conditions n ON n.cluster_id = c.id AND n.type = 'NodesHealthy'
LEFT JOIN agent_reports r ON r.cluster_id = c.id AND c.spec -> 'management' ->> 'mode' = 'pull'
WHERE c.id = ANY(%s) AND c.deleted_at IS NULL AND c.phase = 'Running' AND NOT c.paused
"""


def _not_ready_nodes(row: dict[str, Any], access: KubeAccess | None, deps: Dependencies) -> set[str] | None:
    """Names of the cluster's Nodes that are not Ready (a pull-mode cluster's as its agent reported them);
    None when its API cannot be asked (or its agent has been silent)."""
    cluster_id = row["id"]
    if ClusterSpec.from_json(row["spec"]).pulled:
        nodes = row["reported_nodes"]
        return None if nodes is None else {n["name"] for n in nodes if not n["ready"]}
    if access is None:
        return None
    try:
        with kept_client(str(cluster_id), access, deps.kube) as client:
            nodes = client.list("v1", "Node")
    except KubeError as err:
        log.warning("health check of %s: the cluster's API did not answer: %s", cluster_id, err)
        return None
    return {n["metadata"]["name"] for n in nodes if not condition_true(n)}


def _launched(rows: list[dict[str, Any]], deps: Dependencies) -> dict[UUID, set[str]]:
    """Machine names with a live instance, per cluster: one listing per cloud account."""
    accounts: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        spec = row["spec"]
        accounts[spec["cloudType"], spec["cloudAccount"]].append(str(row["id"]))
    launched: dict[UUID, set[str]] = defaultdict(set)
    for (cloud, account), ids in accounts.items():
        owned = deps.driver(cloud, account).list_owned({"strata:cluster": tuple(ids), "strata:managed-by": "strata"},
                                                       ("instance",))  # fmt: skip
        for r in owned:
            if r.state != GONE:
                launched[UUID(r.tags["strata:cluster"])].add(r.tags.get("strata:node", "").split("/", 1)[-1])
    return launched


def check_health(cluster_ids: list[UUID], pool: DbPool, settings: Settings, deps: Dependencies,
                 publisher: Publisher) -> str:  # fmt: skip
    """Check these clusters (those still Running and not paused); plan the replacement of their unhealthy
    machines. Returns what it did."""
    with pool.connection() as conn:
        rows = conn.execute(DUE, (cluster_ids,)).fetchall()
        running: dict[UUID, dict[str, dict[str, Any]]] = defaultdict(dict)
        for machine in machines.running_in(conn, [r["id"] for r in rows]):
            running[machine["cluster_id"]][machine["name"]] = machine
        accesses = cluster_accesses(conn, [r["id"] for r in rows], settings)
    launched = _launched(rows, deps)
    with ThreadPoolExecutor(ASKED_AT_ONCE) as asking:
        asked = {r["id"]: asking.submit(_not_ready_nodes, r, accesses.get(r["id"]), deps) for r in rows}
    done = []
    for row in rows:
        names = set(running[row["id"]])
        gone = names - launched[row["id"]]
        suspects = gone | ((asked[row["id"]].result() or set()) & names)
        marked = any(m["marked"] for m in running[row["id"]].values())
        if suspects or marked or not row["known_healthy"]:
            done.append(_judge(row, gone, suspects, pool, settings, publisher))
    done.append(_scheduled_scans([r["id"] for r in rows], pool, settings))
    return f"{len(rows)} checked" + "".join(f"; {each}" for each in done if each)


SCAN_DUE = """
SELECT c.id, c.generation FROM clusters c WHERE c.id = ANY(%s) AND NOT EXISTS (
    SELECT 1 FROM cluster_scans s WHERE s.cluster_id = c.id AND s.scanned_at > now() - make_interval(secs => %s))
"""


def _scheduled_scans(cluster_ids: list[UUID], pool: DbPool, settings: Settings) -> str:
    """Scan again the clusters whose last CIS scan is older than the scan interval."""
    with pool.connection() as conn:
        due = conn.execute(SCAN_DUE, (cluster_ids, settings.scan_interval)).fetchall()
    for row in due:
        with pool.connection() as conn, conn.transaction():
            try:
                scan = scan_cluster(conn, row["id"], settings, "schedule")
            except NotScannable:
                continue
            said = summary(scan)
            set_condition(conn, row["id"], "Scanned", TRUE, "Succeeded", said, row["generation"])
            append_event(conn, row["id"], "info", "provisioner", "ClusterScanned", f"scan {scan['number']}: {said}",
                         {"scan": scan["number"], **scan["totals"]})  # fmt: skip
    return f"{len(due)} scanned" if due else ""


def _judge(row: dict[str, Any], gone: set[str], suspects: set[str], pool: DbPool, settings: Settings,
           publisher: Publisher) -> str:  # fmt: skip
    """Record which of the cluster's machines are unhealthy, set NodesHealthy and plan replacements."""
    cluster_id, spec = row["id"], ClusterSpec.from_json(row["spec"])
    with pool.connection() as conn, conn.transaction():
        now = conn.execute("SELECT generation, phase, paused FROM clusters WHERE id = %s FOR UPDATE",
                           (cluster_id,)).fetchone()  # fmt: skip
        if (now["generation"], now["phase"], now["paused"]) != (row["generation"], "Running", False):
            return ""  # a change or a delete came after the look: what was seen is stale
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
    publisher.publish(ready)
    return f"{cluster_id}: replacing {', '.join(replace)}" if replace else (f"{cluster_id}: held" if held else "")
