"""Kubernetes-style conditions: one row per cluster and milestone, with the title a user sees."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strata_common.db.types import DbConnection

# Milestone condition types in the order a cluster reaches them, with their human titles.
MILESTONES: dict[str, str] = {
    "ImageReady": "Customizing Image",
    "InfrastructureReady": "Creating Infrastructure",
    "ControlPlaneReady": "Adding Control Plane Node",
    "WorkersReady": "Adding Worker Nodes",
    "NetworkingReady": "Installing Networking (CNI)",
    "StorageReady": "Installing Storage (CSI)",
    "AddonsReady": "Installing Add-ons",
    "ControlPlaneUpdated": "Updating Control Plane",
    "WorkersReplaced": "Replacing Worker Nodes",
    "WorkersScaled": "Scaling Worker Pools",
    "NodesHealthy": "Replacing Unhealthy Nodes",
    "Scanned": "Scanning (CIS benchmark)",
    "Ready": "Ready",
}

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"


def set_condition(
    conn: DbConnection,
    cluster_id: UUID,
    type_: str,
    status: str,
    reason: str,
    message: str,
    generation: int,
    error_class: str | None = None,
) -> None:
    """Upsert a condition (no write when nothing changes); lastTransitionTime moves only with its status."""
    conn.execute(
        """
        INSERT INTO conditions AS c
            (cluster_id, type, status, reason, message, error_class, observed_generation)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (cluster_id, type) DO UPDATE SET
            status = EXCLUDED.status,
            reason = EXCLUDED.reason,
            message = EXCLUDED.message,
            error_class = EXCLUDED.error_class,
            observed_generation = EXCLUDED.observed_generation,
            last_transition_time = CASE WHEN c.status = EXCLUDED.status
                                        THEN c.last_transition_time ELSE now() END,
            updated_at = now()
        WHERE c.observed_generation <= EXCLUDED.observed_generation
          AND (c.status, c.reason, c.message, c.error_class, c.observed_generation)
              IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.reason, EXCLUDED.message, EXCLUDED.error_class,
                                EXCLUDED.observed_generation)
        """,
        (cluster_id, type_, status, reason, message, error_class, generation),
    )


def mark_in_progress(conn: DbConnection, cluster_id: UUID, type_: str, step_name: str, generation: int) -> None:
    """Unknown/InProgress when a step of the milestone starts, unless the milestone is already failing."""
    conn.execute(
        """
        UPDATE conditions SET status = 'Unknown', reason = 'InProgress', message = %s, error_class = NULL,
               last_transition_time = CASE WHEN status = 'Unknown' THEN last_transition_time ELSE now() END,
               updated_at = now()
        WHERE cluster_id = %s AND type = %s AND observed_generation = %s AND status = 'Unknown'
        """,
        (f"{MILESTONES[type_]}: running {step_name}", cluster_id, type_, generation),
    )


def mark_waiting(conn: DbConnection, cluster_id: UUID, type_: str, message: str, generation: int) -> None:
    """Unknown/Waiting with what the step waits for (a requeue), unless the milestone is failing."""
    conn.execute(
        """
        UPDATE conditions SET reason = 'Waiting', message = %s, updated_at = now()
        WHERE cluster_id = %s AND type = %s AND observed_generation = %s AND status = 'Unknown'
          AND (reason, message) IS DISTINCT FROM ('Waiting', %s)
        """,
        (message, cluster_id, type_, generation, message),
    )


CONDITION_COLUMNS = "type, status, reason, message, error_class, observed_generation, last_transition_time"


def list_conditions(conn: DbConnection, cluster_id: UUID) -> list[dict[str, Any]]:
    """The cluster's conditions in milestone order, shaped as the API shows them."""
    rows = conn.execute(f"SELECT {CONDITION_COLUMNS} FROM conditions WHERE cluster_id = %s", (cluster_id,)).fetchall()
    return condition_views(rows)


def condition_views(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Condition rows (as dicts, times as datetimes or ISO strings) in milestone order, as the API shows them."""
    order = list(MILESTONES)
    ordered = sorted(rows, key=lambda r: order.index(r["type"]) if r["type"] in order else len(order))
    return [
        {
            "type": r["type"],
            "title": MILESTONES.get(r["type"], r["type"]),
            "status": r["status"],
            "reason": r["reason"],
            "message": r["message"],
            "errorClass": r["error_class"],
            "observedGeneration": r["observed_generation"],
            "lastTransitionTime": _iso(r["last_transition_time"]),
        }
        for r in ordered
    ]


def _iso(value: Any) -> str:
    return value if isinstance(value, str) else value.isoformat()
