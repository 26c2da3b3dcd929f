"""Clusters: the observed status steps write for each other (and the API shows), and phase changes."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from strata_common.db.types import DbConnection


def update_status(conn: DbConnection, cluster_id: Any, generation: int, **values: Any) -> bool:
    """Merge `values` into the cluster's status; only a step of the current generation may (a superseded
    step finishing late must not put back what the newer plan replaced). False if it was not current."""
    row = conn.execute(
        "UPDATE clusters SET status = status || %s WHERE id = %s AND generation = %s RETURNING id",
        (Jsonb(values), cluster_id, generation),
    ).fetchone()
    return row is not None


def set_phase(conn: DbConnection, cluster_id: Any, generation: int, phase: str) -> None:
    """Move the phase of the cluster at `generation` (unless it is being deleted meanwhile)."""
    conn.execute(
        "UPDATE clusters SET phase = %s, updated_at = now() WHERE id = %s AND generation = %s AND phase <> 'Deleting'",
        (phase, cluster_id, generation),
    )


def mark_deleted(conn: DbConnection, cluster_id: Any) -> None:
    conn.execute(
        "UPDATE clusters SET phase = 'Deleted', deleted_at = coalesce(deleted_at, now()), updated_at = now()"
        " WHERE id = %s",
        (cluster_id,),
    )


def health_due(conn: DbConnection, cluster_id: Any, after: float) -> None:
    """The cluster's next health check is due in `after` seconds."""
    conn.execute(
        "UPDATE clusters SET health_due_at = now() + make_interval(secs => %s) WHERE id = %s", (after, cluster_id)
    )
