"""Objects of the emulated clusters in PostgreSQL: every write takes the cluster's lock, numbers the
change (resourceVersion), logs it for watches and NOTIFYs; deletes cascade like the API server's
namespace controller and garbage collector."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from psycopg import Connection
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from strata_localcloud.kubeapi.resources import CRD_RESOURCE, from_crd, keeps_generation

CHANNEL = "strata_kube"  # NOTIFY channel; the payload is the cluster id


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Conflict(Exception):
    """The object changed since the resourceVersion the writer read."""


def _spec_part(body: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (body or {}).items() if k not in ("metadata", "status")}


class Tx:
    """One transaction on one cluster, holding the cluster's write lock."""

    def __init__(self, conn: Connection, cluster_id: str):
        self.conn = conn
        self.cluster_id = cluster_id
        self.changed = False

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT body FROM kube_objects WHERE cluster_id = %s AND resource = %s AND namespace = %s AND name = %s",
            (self.cluster_id, resource, namespace, name),
        ).fetchone()
        return row["body"] if row else None

    def list(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return list_objects(self.conn, self.cluster_id, resource, namespace)

    def put(self, resource: str, body: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        """Store `body` (replacing `old`, which the caller read in this transaction) with fresh metadata:
        one statement numbers the change, stores the object, logs the change and notifies (once per
        transaction)."""
        meta = body["metadata"] = dict(body.get("metadata") or {})  # `old` may share the dict (a shallow copy)
        if old is None:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_iso()
        else:
            old_meta = old["metadata"]
            meta["uid"], meta["creationTimestamp"] = old_meta["uid"], old_meta["creationTimestamp"]
        meta.pop("generation", None)
        if keeps_generation(resource):
            changed = old is not None and _spec_part(body) != _spec_part(old)
            meta["generation"] = (old or {}).get("metadata", {}).get("generation", 1) + (1 if changed else 0)
        meta.pop("resourceVersion", None)
        row = self.conn.execute(
            """
            WITH rv AS (SELECT nextval('kube_changes_resource_version_seq') AS v),
            stored AS (
                INSERT INTO kube_objects (cluster_id, resource, namespace, name, uid, resource_version, body)
                SELECT %(c)s, %(r)s, %(ns)s, %(n)s, %(uid)s, v,
                       jsonb_set(%(body)s, '{metadata,resourceVersion}', to_jsonb(v::text)) FROM rv
                ON CONFLICT (cluster_id, resource, namespace, name) DO UPDATE
                   SET resource_version = EXCLUDED.resource_version, body = EXCLUDED.body, uid = EXCLUDED.uid
                RETURNING resource_version, body),
            logged AS (
                INSERT INTO kube_changes (resource_version, cluster_id, resource, namespace, name, type, body)
                SELECT resource_version, %(c)s, %(r)s, %(ns)s, %(n)s, %(type)s, body FROM stored)
            SELECT resource_version AS rv, CASE WHEN %(notify)s THEN pg_notify(%(channel)s, %(c)s::text) END
              FROM stored
            """,
            {"c": self.cluster_id, "r": resource, "ns": meta.get("namespace", ""), "n": meta["name"],
             "uid": meta["uid"], "body": Jsonb(body), "type": "ADDED" if old is None else "MODIFIED",
             "notify": not self.changed, "channel": CHANNEL},
        ).fetchone()  # fmt: skip
        meta["resourceVersion"] = str(row["rv"])
        self.changed = True
        return body

    def delete(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        """Delete one object and what it owns: a namespace's objects, a CRD's custom resources, and
        objects whose ownerReferences point at it. Returns the deleted object or None."""
        row = self.conn.execute(
            "DELETE FROM kube_objects WHERE cluster_id = %s AND resource = %s AND namespace = %s AND name = %s"
            " RETURNING body",
            (self.cluster_id, resource, namespace, name),
        ).fetchone()
        if row is None:
            return None
        body = row["body"]
        rv = self.conn.execute("SELECT nextval('kube_changes_resource_version_seq') AS rv").fetchone()["rv"]
        body["metadata"]["resourceVersion"] = str(rv)
        self._log(rv, resource, namespace, name, "DELETED", body)
        if resource == "/namespaces":
            for child in self.conn.execute(
                "SELECT resource, name FROM kube_objects WHERE cluster_id = %s AND namespace = %s",
                (self.cluster_id, name),
            ).fetchall():
                self.delete(child["resource"], name, child["name"])
        if resource == CRD_RESOURCE:
            for served in from_crd(body):
                for child in self.list(served.key):
                    self.delete(served.key, child["metadata"].get("namespace", ""), child["metadata"]["name"])
        for child in self.conn.execute(
            "SELECT resource, namespace, name FROM kube_objects WHERE cluster_id = %s"
            " AND body -> 'metadata' -> 'ownerReferences' @> %s",
            (self.cluster_id, Jsonb([{"uid": body["metadata"]["uid"]}])),
        ).fetchall():
            self.delete(child["resource"], child["namespace"], child["name"])
        return body

    def _log(self, rv: int, resource: str, namespace: str, name: str, type_: str, body: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO kube_changes (resource_version, cluster_id, resource, namespace, name, type, body)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (rv, self.cluster_id, resource, namespace, name, type_, Jsonb(body)),
        )
        if not self.changed:
            self.conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, self.cluster_id))
        self.changed = True


@contextmanager
def transaction(pool: ConnectionPool, cluster_id: str) -> Iterator[Tx]:
    """A write transaction on one cluster: writes to a cluster are serialized, so resourceVersions
    commit in order and a watch that reads past N has seen everything up to N."""
    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 7))", (cluster_id,))
        yield Tx(conn, cluster_id)


def list_objects(conn: Connection, cluster_id: str, resource: str, namespace: str | None) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT body FROM kube_objects WHERE cluster_id = %s AND resource = %s"
        " AND (%s::text IS NULL OR namespace = %s) ORDER BY namespace, name",
        (cluster_id, resource, namespace, namespace),
    ).fetchall()
    return [r["body"] for r in rows]


def snapshot(
    conn: Connection, cluster_id: str, resource: str, namespace: str | None
) -> tuple[int, list[dict[str, Any]]]:
    """A list and its resourceVersion, read in one statement (one snapshot): the newest change of these
    objects that the list saw. Writes to a cluster commit in resourceVersion order, so a watch from that
    version gets every change the list did not show, even one in flight while it ran."""
    row = conn.execute(
        """
        WITH listed AS (
            SELECT namespace, name, resource_version, body FROM kube_objects
             WHERE cluster_id = %(c)s AND resource = %(r)s AND (%(n)s::text IS NULL OR namespace = %(n)s))
        SELECT greatest((SELECT max(resource_version) FROM kube_changes WHERE cluster_id = %(c)s AND resource = %(r)s),
                        (SELECT max(resource_version) FROM listed),
                        (SELECT horizon FROM kube_compaction)) AS version,
               coalesce((SELECT jsonb_agg(body ORDER BY namespace, name) FROM listed), '[]') AS items
        """,
        {"c": cluster_id, "r": resource, "n": namespace},
    ).fetchone()
    return row["version"], row["items"]


def changes_after(
    conn: Connection, cluster_id: str, resource: str, namespace: str | None, after: int, limit: int = 500
) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT resource_version, type, body FROM kube_changes WHERE cluster_id = %s AND resource = %s"
        " AND resource_version > %s AND (%s::text IS NULL OR namespace = %s) ORDER BY resource_version LIMIT %s",
        (cluster_id, resource, after, namespace, namespace, limit),
    ).fetchall()


def compaction_horizon(conn: Connection) -> int:
    return conn.execute("SELECT horizon FROM kube_compaction").fetchone()["horizon"]


def compact(conn: Connection, keep_seconds: float) -> int:
    """Forget changes older than `keep_seconds`; watches from before them get 410 Gone. Returns how many."""
    row = conn.execute(
        "WITH gone AS (DELETE FROM kube_changes WHERE at < now() - make_interval(secs => %s)"
        " RETURNING resource_version) SELECT count(*) AS n, max(resource_version) AS top FROM gone",
        (keep_seconds,),
    ).fetchone()
    if row["top"]:
        conn.execute("UPDATE kube_compaction SET horizon = greatest(horizon, %s)", (row["top"],))
    return row["n"]


def crds(conn: Connection, cluster_id: str) -> list[dict[str, Any]]:
    return list_objects(conn, cluster_id, CRD_RESOURCE, None)
