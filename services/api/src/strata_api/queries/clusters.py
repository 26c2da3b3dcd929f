"""Clusters of a project: one or a page, each as the API shows it (with its conditions), built in the query."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from strata_api.queries import project_row
from strata_common.db.types import DbConnection, one
from strata_common.engine.conditions import MILESTONES
from strata_common.model.cluster import AGENT_TIMEOUT_SECONDS


def _literal(value: Any) -> str:
    text = json.dumps(value)
    assert "'" not in text  # built from the code's own constants
    return f"'{text}'"


# A cluster as the API shows it (ClusterView), built by PostgreSQL as JSON: a page of 100 clusters is
# 300 KB of JSON, which Python would decode, rebuild and encode again. Conditions in milestone order.
VIEW = (
    "json_build_object('id', c.id, 'name', c.name, 'phase', c.phase, 'generation', c.generation,"
    " 'profile', json_build_object('id', c.spec -> 'profile' -> 'id', 'revision', c.spec -> 'profile' -> 'revision'),"
    " 'cloudAccount', c.spec -> 'cloudAccount', 'cloud', c.spec -> 'cloud', 'pools', c.spec -> 'pools',"
    " 'paused', c.paused, 'management', json_build_object('mode', coalesce(c.spec -> 'management' ->> 'mode',"
    f" 'push'), 'agentTimeout', coalesce((c.spec -> 'management' ->> 'agentTimeout')::float, {AGENT_TIMEOUT_SECONDS}),"
    " 'lastAgentReport', (SELECT r.reported_at FROM agent_reports r WHERE r.cluster_id = c.id)),"
    " 'conditions', (SELECT coalesce(json_agg(json_build_object('type', k.type,"
    f" 'title', coalesce({_literal(MILESTONES)}::jsonb ->> k.type, k.type), 'status', k.status,"
    " 'reason', k.reason, 'message', k.message, 'errorClass', k.error_class,"
    " 'observedGeneration', k.observed_generation, 'lastTransitionTime', k.last_transition_time)"
    f" ORDER BY coalesce(array_position({_literal(list(MILESTONES)).replace('[', '{').replace(']', '}')}::text[],"
    f" k.type), {len(MILESTONES)}), k.type), '[]') FROM conditions k WHERE k.cluster_id = c.id),"
    " 'createdAt', c.created_at, 'updatedAt', c.updated_at)"
)


def own_cluster(conn: DbConnection, project_id: UUID, cluster_id: Any, lock: bool = False) -> dict[str, Any]:
    """The project's live cluster row (404 otherwise); `lock` holds its row until commit."""
    return project_row(conn, "clusters", cluster_id, project_id, "cluster", lock=lock, live_only=True)


def own_cluster_id(conn: DbConnection, project_id: UUID, cluster_id: Any) -> UUID:
    """The id of the project's live cluster (404 otherwise)."""
    return project_row(conn, "clusters", cluster_id, project_id, "cluster", live_only=True, columns="id")["id"]


def own_view(conn: DbConnection, project_id: UUID, cluster_id: Any) -> dict[str, Any]:
    """The API's view of the project's live cluster (404 otherwise), one query."""
    row = project_row(conn, "clusters c", cluster_id, project_id, "cluster", live_only=True, columns=f"{VIEW} AS view")
    return row["view"]


def view(conn: DbConnection, cluster_id: UUID) -> dict[str, Any]:
    """The API's view of a cluster (after a change in this transaction: as it now stands)."""
    return one(conn.execute(f"SELECT {VIEW} AS view FROM clusters c WHERE c.id = %s", (cluster_id,)).fetchone())["view"]


def page(
    conn: DbConnection, project_id: UUID, *, name: str | None, phase: str | None, profile: str | None,
    after: tuple[datetime, UUID] | None, limit: int, search: str | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Up to `limit` clusters after the cursor, oldest first: (created_at, id, view as JSON text), one query."""
    return conn.execute(
        f"SELECT c.created_at, c.id, {VIEW}::text AS view FROM clusters c WHERE c.project_id = %(p)s"
        " AND c.deleted_at IS NULL AND (%(name)s::text IS NULL OR c.name = %(name)s)"
        " AND (%(phase)s::text IS NULL OR c.phase = %(phase)s)"
        " AND (%(search)s::text IS NULL OR strpos(lower(c.name), lower(%(search)s)) > 0)"
        " AND (%(profile)s::text IS NULL OR c.profile_id::text = %(profile)s)"
        " AND (%(after_t)s::timestamptz IS NULL OR (c.created_at, c.id) > (%(after_t)s, %(after_id)s))"
        " ORDER BY c.created_at, c.id LIMIT %(limit)s",
        {
            "p": project_id,
            "name": name,
            "phase": phase,
            "search": search,
            "profile": profile,
            "after_t": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    ).fetchall()
