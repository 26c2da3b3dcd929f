"""Clusters of a project: one or a page, each with its conditions read in the same query."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from strata_api.queries import project_row
from strata_common.db.types import DbConnection, one
from strata_common.engine.conditions import CONDITION_COLUMNS, condition_views

_PAIRS = ", ".join(f"'{column}', {column}" for column in CONDITION_COLUMNS.split(", "))
_CONDITIONS = (
    f"(SELECT coalesce(json_agg(json_build_object({_PAIRS})), '[]') FROM conditions"
    " WHERE cluster_id = clusters.id) AS condition_rows"
)
WITH_CONDITIONS = f"clusters.*, {_CONDITIONS}"
# What a page shows of each cluster: the spec's shown parts only (its layers and values are the bulk of it).
_SHOWN = (
    "id, name, phase, generation, paused, created_at, updated_at, jsonb_build_object('profile', spec -> 'profile',"
    " 'cloudAccount', spec -> 'cloudAccount', 'cloud', spec -> 'cloud', 'pools', spec -> 'pools') AS spec,"
    f" {_CONDITIONS}"
)


def own_cluster(conn: DbConnection, project_id: UUID, cluster_id: Any, lock: bool = False) -> dict[str, Any]:
    """The project's live cluster with its conditions (404 otherwise); `lock` holds its row until commit."""
    columns = "*" if lock else WITH_CONDITIONS  # FOR UPDATE cannot go with the aggregate; a locked row is re-read
    return project_row(conn, "clusters", cluster_id, project_id, "cluster", lock=lock, live_only=True, columns=columns)


def own_cluster_id(conn: DbConnection, project_id: UUID, cluster_id: Any) -> UUID:
    """The id of the project's live cluster (404 otherwise), read without its conditions."""
    return project_row(conn, "clusters", cluster_id, project_id, "cluster", live_only=True, columns="id")["id"]


def with_conditions(conn: DbConnection, cluster_id: UUID) -> dict[str, Any]:
    """A cluster row with its conditions (after a change in this transaction)."""
    return one(conn.execute(f"SELECT {WITH_CONDITIONS} FROM clusters WHERE id = %s", (cluster_id,)).fetchone())


def page(
    conn: DbConnection, project_id: UUID, *, name: str | None, phase: str | None, profile: str | None,
    after: tuple[datetime, UUID] | None, limit: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """Up to `limit` clusters after the cursor, oldest first, each with its conditions: one query."""
    return conn.execute(
        f"SELECT {_SHOWN} FROM clusters WHERE project_id = %(p)s AND deleted_at IS NULL"
        " AND (%(name)s::text IS NULL OR name = %(name)s) AND (%(phase)s::text IS NULL OR phase = %(phase)s)"
        " AND (%(profile)s::text IS NULL OR profile_id::text = %(profile)s)"
        " AND (%(after_t)s::timestamptz IS NULL OR (created_at, id) > (%(after_t)s, %(after_id)s))"
        " ORDER BY created_at, id LIMIT %(limit)s",
        {
            "p": project_id,
            "name": name,
            "phase": phase,
            "profile": profile,
            "after_t": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    ).fetchall()


def cluster_view(row: dict[str, Any]) -> dict[str, Any]:
    """The API's view (JSON values, as ClusterView describes it) of a cluster row read with its conditions."""
    spec = row["spec"]
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "phase": row["phase"],
        "generation": row["generation"],
        "profile": {"id": spec["profile"]["id"], "revision": spec["profile"]["revision"]},
        "cloudAccount": spec["cloudAccount"],
        "cloud": spec["cloud"],
        "pools": spec["pools"],  # written by Pool.to_json: PoolView's fields
        "paused": row["paused"],
        "conditions": condition_views(row["condition_rows"]),
        "createdAt": row["created_at"].isoformat(),
        "updatedAt": row["updated_at"].isoformat(),
    }
