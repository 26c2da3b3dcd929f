"""Profiles of a project and their immutable revisions."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strata_api.queries import project_row
from strata_common.db.types import DbConnection, exists, one


def own_profile(conn: DbConnection, project_id: UUID, profile_id: Any, lock: bool = False) -> dict[str, Any]:
    return project_row(conn, "profiles", profile_id, project_id, "profile", lock=lock)


def revision(conn: DbConnection, profile_id: UUID, number: int) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT * FROM profile_revisions WHERE profile_id = %s AND revision = %s", (profile_id, number)
    ).fetchone()


def profile_ids(conn: DbConnection, project_id: UUID) -> list[UUID]:
    rows = conn.execute("SELECT id FROM profiles WHERE project_id = %s ORDER BY name", (project_id,)).fetchall()
    return [row["id"] for row in rows]


def profile_in_use(conn: DbConnection, profile_id: UUID) -> bool:
    return exists(conn, "SELECT 1 FROM clusters WHERE profile_id = %s AND deleted_at IS NULL LIMIT 1", (profile_id,))


def profile_view(conn: DbConnection, profile_id: UUID) -> dict[str, Any]:
    row = one(
        conn.execute(
            "SELECT p.*, r.revision, r.layers FROM profiles p JOIN profile_revisions r ON r.profile_id = p.id"
            " AND r.revision = p.latest_revision WHERE p.id = %s",
            (profile_id,),
        ).fetchone()
    )
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "revision": row["revision"],
        "layers": row["layers"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def revision_view(row: dict[str, Any]) -> dict[str, Any]:
    return {"profileId": row["profile_id"], "revision": row["revision"], "layers": row["layers"],
            "createdAt": row["created_at"]}  # fmt: skip
