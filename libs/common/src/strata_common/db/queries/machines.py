"""Machines: one row per node a cluster has or is about to have. A plan records the machines it adds
(Provisioning) and marks those it retires; steps move them through their phases, each move one
guarded UPDATE (a missing row is a lost race or a machine already past that phase)."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from strata_common.db.types import DbConnection
from strata_common.model.cluster import DELETING, DRAINING, FAILED, PROVISIONING, RUNNING, Machine
from strata_common.planner import Plan

COLUMNS = ("name, pool, role, zone, template_hash, template, phase, retire_reason, instance_id, node_name,"
           " unhealthy_since, generation, created_at, ready_at, deleted_at")  # fmt: skip


def rows(conn: DbConnection, cluster_id: Any, live_only: bool = False) -> list[dict[str, Any]]:
    """The cluster's machines, Deleted ones too unless `live_only`, in pool and ordinal order."""
    return conn.execute(
        f"SELECT {COLUMNS} FROM machines WHERE cluster_id = %s AND (NOT %s OR phase <> 'Deleted')"
        " ORDER BY pool, ordinal",
        (cluster_id, live_only),
    ).fetchall()


def row(conn: DbConnection, cluster_id: Any, name: str) -> dict[str, Any] | None:
    return conn.execute(f"SELECT {COLUMNS} FROM machines WHERE cluster_id = %s AND name = %s",
                        (cluster_id, name)).fetchone()  # fmt: skip


def machines(conn: DbConnection, cluster_id: Any) -> list[Machine]:
    return [Machine.from_row(row) for row in rows(conn, cluster_id)]


def adopt(conn: DbConnection, cluster_id: Any, hashes: dict[str, str]) -> None:
    """Give machines recorded before template hashes existed the hash of the spec they run ({pool: hash})."""
    conn.execute(
        "UPDATE machines m SET template_hash = h.value, template = m.template || jsonb_build_object('templateHash',"
        " h.value) FROM jsonb_each_text(%s) h WHERE m.cluster_id = %s AND m.pool = h.key AND m.template_hash = ''",
        (Jsonb(hashes), cluster_id),
    )


def record_plan(conn: DbConnection, cluster_id: Any, generation: int, plan: Plan) -> None:
    """Record the plan's new machines and which it retires (a later plan may keep one an earlier one retired)."""
    for node in plan.new:
        conn.execute(
            "INSERT INTO machines (cluster_id, name, pool, role, ordinal, zone, template_hash, template, phase,"
            " generation) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (cluster_id, node.name, node.pool, node.role, node.index, node.zone, node.template_hash,
             Jsonb(node.to_json()), PROVISIONING, generation),
        )  # fmt: skip
    conn.execute(
        "UPDATE machines m SET retire_reason = r.value FROM (SELECT n.name, r.value FROM machines n"
        " LEFT JOIN jsonb_each_text(%s) r ON r.key = n.name WHERE n.cluster_id = %s AND n.phase <> 'Deleted') r"
        " WHERE m.cluster_id = %s AND m.name = r.name AND m.retire_reason IS DISTINCT FROM r.value",
        (Jsonb(plan.retire), cluster_id, cluster_id),
    )


def _move(conn: DbConnection, cluster_id: Any, name: str, phase: str, allowed: tuple[str, ...], **values: Any) -> bool:
    sets = "".join(f", {column} = %({column})s" for column in values)
    row = conn.execute(
        f"UPDATE machines SET phase = %(phase)s{sets} WHERE cluster_id = %(c)s AND name = %(n)s"
        " AND phase = ANY(%(allowed)s) RETURNING name",
        {"phase": phase, "c": cluster_id, "n": name, "allowed": list(allowed), **values},
    ).fetchone()
    return row is not None


def launched(conn: DbConnection, cluster_id: Any, name: str, instance_id: str) -> bool:
    """The machine's instance exists (its id, recorded while still Provisioning)."""
    return _move(conn, cluster_id, name, PROVISIONING, (PROVISIONING, FAILED), instance_id=instance_id)


def running(conn: DbConnection, cluster_id: Any, name: str, node_name: str) -> bool:
    row = conn.execute(
        "UPDATE machines SET phase = 'Running', node_name = %s, ready_at = coalesce(ready_at, now()),"
        " unhealthy_since = NULL WHERE cluster_id = %s AND name = %s AND phase = ANY(%s) RETURNING name",
        (node_name, cluster_id, name, [PROVISIONING, FAILED, RUNNING]),
    ).fetchone()
    return row is not None


def draining(conn: DbConnection, cluster_id: Any, name: str) -> bool:
    return _move(conn, cluster_id, name, DRAINING, (PROVISIONING, RUNNING, FAILED, DRAINING))


def deleting(conn: DbConnection, cluster_id: Any, name: str) -> bool:
    return _move(conn, cluster_id, name, DELETING, (PROVISIONING, RUNNING, FAILED, DRAINING, DELETING))


def deleted(conn: DbConnection, cluster_id: Any, name: str | None = None) -> None:
    """The machine (every machine of the cluster when `name` is None) is gone."""
    conn.execute(
        "UPDATE machines SET phase = 'Deleted', deleted_at = now() WHERE cluster_id = %s AND (%s::text IS NULL"
        " OR name = %s) AND phase <> 'Deleted'",
        (cluster_id, name, name),
    )


def running_in(conn: DbConnection, cluster_ids: list[Any]) -> list[dict[str, Any]]:
    """The Running machines of these clusters: cluster_id, name, pool and whether one is marked unhealthy."""
    return conn.execute(
        "SELECT cluster_id, name, pool, unhealthy_since IS NOT NULL AS marked FROM machines"
        " WHERE cluster_id = ANY(%s) AND phase = 'Running'",
        (cluster_ids,),
    ).fetchall()


def unhealthy(conn: DbConnection, cluster_id: Any, names: list[str]) -> list[dict[str, Any]]:
    """Mark `names` unhealthy since now (unless they already are) and clear the others; return the
    Running machines' rows with how long each has been unhealthy (seconds, None if healthy)."""
    return conn.execute(
        "UPDATE machines SET unhealthy_since = CASE WHEN name = ANY(%s) THEN coalesce(unhealthy_since, now())"
        " END WHERE cluster_id = %s AND phase = 'Running'"
        " RETURNING name, pool, extract(epoch FROM now() - unhealthy_since)::float AS unhealthy_for",
        (names, cluster_id),
    ).fetchall()
