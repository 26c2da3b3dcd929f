"""A dry run's expected duration: each planned step's cloud waits from the cloud driver's latency model
(resources the step would create: network, security groups, load balancer, an instance per new node, an
image to copy or build), plus Strata's own time for that kind of step (the median of this project's
recent successful steps: handler time, and for steps with no cloud wait also their Kubernetes waits);
the total is the longest path through the steps' dependencies. Queueing behind other clusters is not
counted: it depends on what else runs then."""

from __future__ import annotations

from functools import cache
from typing import Any
from uuid import UUID

from strata_common.clouds import registry
from strata_common.config import Settings
from strata_common.db.types import DbConnection
from strata_common.model.cluster import ClusterSpec

INFRASTRUCTURE = {"ensure_network": "network", "ensure_security_groups": "security_group",
                  "ensure_load_balancer": "load_balancer"}  # fmt: skip
RECENT = 5000  # steps of the project looked at, newest first

HISTORY = """
SELECT kind, percentile_cont(0.5) WITHIN GROUP (ORDER BY working) AS working,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY working + waiting) AS busy
FROM (SELECT CASE WHEN s.name LIKE 'ensure_pack/%%' THEN s.name ELSE split_part(s.name, '/', 1) END AS kind,
             s.working_seconds AS working, s.waiting_seconds AS waiting
      FROM steps s JOIN clusters c ON c.id = s.cluster_id
      WHERE c.project_id = %s AND s.status = 'succeeded' ORDER BY s.id DESC LIMIT %s) recent
GROUP BY kind
"""

IMAGE = """
SELECT bool_or(region = %(region)s AND state = 'available') AS here, bool_or(state = 'available') AS anywhere
FROM images WHERE cloud_account_id = %(account)s AND pack_name = %(pack)s AND pack_version = %(version)s
  AND (kubernetes_version IS NULL OR kubernetes_version = %(kubernetes)s)
"""


def _kind(name: str) -> str:
    return name if name.startswith("ensure_pack/") else name.split("/", 1)[0]


def _image_waits(conn: DbConnection, spec: ClusterSpec) -> list[str]:
    """Nothing if an image of the OS pack (and Kubernetes version) is available in the region; a copy if
    it is in another; else a build (a builder instance, then the image)."""
    os_layer = spec.layer_of("os")
    wanted = {"region": spec.region, "account": spec.cloud_account, "pack": os_layer.pack,
              "version": os_layer.version, "kubernetes": spec.kubernetes_version()}  # fmt: skip
    found = conn.execute(IMAGE, wanted).fetchone()
    if found and found["here"]:
        return []
    return ["image"] if found and found["anywhere"] else ["instance", "image"]


def expected_duration(conn: DbConnection, project_id: UUID, settings: Settings, spec: ClusterSpec,
                      plan: dict[str, Any], built: bool) -> dict[str, Any]:  # fmt: skip
    """Sets each planned step's `expectedSeconds` and `cloudWaits`; the total and its critical path.
    `built`: the cluster's infrastructure exists already."""
    history = {row["kind"]: row for row in conn.execute(HISTORY, (project_id, RECENT)).fetchall()}
    added = {machine["machine"] for machine in plan["adds"]}
    plugin = registry.plugins().get(spec.cloud_type)
    for step in plan["steps"]:
        name = step["name"]
        waits: list[str] = []
        if name in INFRASTRUCTURE and not built:
            waits = [INFRASTRUCTURE[name]]
        elif name == "ensure_image":
            waits = _image_waits(conn, spec)
        elif name.startswith("ensure_node/") and name.split("/", 1)[1] in added:
            waits = ["instance"]
        past = history.get(_kind(name))
        own = (past["working"] if waits else past["busy"]) if past else 0.0
        cloud = sum(plugin.expected_seconds(kind, settings) for kind in waits) if plugin else 0.0
        step["cloudWaits"], step["expectedSeconds"] = waits, round(cloud + own, 3)
    by_name = {step["name"]: step for step in plan["steps"]}

    @cache
    def finish(name: str) -> tuple[float, tuple[str, ...]]:
        step = by_name[name]
        before = max((finish(d) for d in step["dependsOn"] if d in by_name), default=(0.0, ()))
        return before[0] + step["expectedSeconds"], (*before[1], name)

    total, path = max((finish(name) for name in by_name), default=(0.0, ()))
    basis = (f"cloud waits from the {spec.cloud_type} driver's latency model, Strata's own time from the median of "
             f"this project's recent steps ({len(history)} kinds known); queueing not counted")  # fmt: skip
    return {"seconds": round(total, 3), "criticalPath": list(path), "basis": basis}
