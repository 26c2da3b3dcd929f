"""What the Kubernetes API emulator reads of the local cloud: a cluster's API load balancer and its
node instances. The emulator goes through here, never to the lc_* tables itself."""

from __future__ import annotations

from typing import Any

from psycopg import Connection
from psycopg.types.json import Jsonb

_VERSIONED_USER_DATA = "%kubernetesVersion:%"


def api_endpoint(conn: Connection, cluster_id: str) -> dict[str, Any] | None:
    """{"server_name": the load balancer's DNS name, "user_data": the first running control-plane
    node's user data (None while none runs)}; None when the cluster has no load balancer."""
    owner = {"strata:cluster": cluster_id}
    return conn.execute(
        """
        SELECT lb.spec ->> 'dnsName' AS server_name,
               (SELECT i.spec ->> 'userData' FROM lc_resources i
                 WHERE i.kind = 'instance' AND i.deleted_at IS NULL AND i.ready_at <= now()
                   AND i.tags @> %s AND i.spec ->> 'userData' LIKE %s
                 ORDER BY i.created_at LIMIT 1) AS user_data
        FROM lc_resources lb
        WHERE lb.kind = 'load_balancer' AND lb.deleted_at IS NULL AND lb.tags @> %s
        """,
        (Jsonb({**owner, "strata:role": "control-plane"}), _VERSIONED_USER_DATA, Jsonb(owner)),
    ).fetchone()


def cluster_of_server_name(conn: Connection, server_name: str) -> str | None:
    """The cluster whose live API load balancer has this DNS name."""
    row = conn.execute(
        "SELECT tags ->> 'strata:cluster' AS cluster FROM lc_resources WHERE kind = 'load_balancer'"
        " AND deleted_at IS NULL AND spec ->> 'dnsName' = %s",
        (server_name,),
    ).fetchone()
    return row["cluster"] if row else None


def clusters_without_api(conn: Connection, cluster_ids: list[str]) -> list[str]:
    """Those of `cluster_ids` that have no live API load balancer (any more: one is never made again)."""
    rows = conn.execute(
        "SELECT c FROM unnest(%s::text[]) AS c WHERE NOT EXISTS (SELECT 1 FROM lc_resources lb"
        " WHERE lb.kind = 'load_balancer' AND lb.deleted_at IS NULL AND lb.tags ->> 'strata:cluster' = c)",
        (cluster_ids,),
    ).fetchall()
    return [row["c"] for row in rows]


def node_instances(conn: Connection, cluster_id: str) -> list[dict[str, Any]]:
    """The cluster's live instances: id, zone, region, spec, tags, running."""
    return conn.execute(
        "SELECT id, zone, region, spec, tags, ready_at <= now() AS running FROM lc_resources"
        " WHERE kind = 'instance' AND deleted_at IS NULL AND tags @> %s",
        (Jsonb({"strata:cluster": cluster_id}),),
    ).fetchall()
