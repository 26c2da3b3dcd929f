"""API tokens and projects through the API: an admin issues tokens of its project (up to its own role,
optionally expiring), lists them (never their secret) and revokes them; a platform admin creates projects,
each with its first admin token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg

from strata_api.errors import ApiError
from strata_api.queries import project_row
from strata_common.db.tokens import ROLES, Principal, issue_token
from strata_common.db.types import DbConnection, one

COLUMNS = "id, name, role, platform_admin, created_at, last_used_at, expires_at, revoked_at"


def token_view(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "role": row["role"], "platformAdmin": row["platform_admin"],
            "createdAt": row["created_at"], "lastUsedAt": row["last_used_at"], "expiresAt": row["expires_at"],
            "revokedAt": row["revoked_at"]}  # fmt: skip


def create_token(conn: DbConnection, me: Principal, data: dict[str, Any]) -> dict[str, Any]:
    if ROLES.index(data["role"]) > ROLES.index(me.role):
        raise ApiError(403, "forbidden", f"a {me.role} token cannot issue a {data['role']} token")
    seconds = data.get("expiresInSeconds")
    expires = datetime.now(UTC) + timedelta(seconds=seconds) if seconds else None
    row, token = issue_token(conn, me.project_id, data["role"], data["name"], expires_at=expires)
    return {**token_view(row), "token": token}


def list_tokens(conn: DbConnection, project_id: UUID) -> list[dict[str, Any]]:
    rows = conn.execute(f"SELECT {COLUMNS} FROM api_tokens WHERE project_id = %s ORDER BY created_at, id",
                        (project_id,)).fetchall()  # fmt: skip
    return [token_view(row) for row in rows]


def revoke_token(conn: DbConnection, project_id: UUID, token_id: str) -> dict[str, Any]:
    """Revoke one of the project's tokens (again: the first revocation stands)."""
    found = project_row(conn, "api_tokens", token_id, project_id, "token", columns="id")
    row = conn.execute(
        f"UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s RETURNING {COLUMNS}",
        (found["id"],),
    ).fetchone()
    return token_view(one(row))


def create_project(conn: DbConnection, me: Principal, name: str) -> dict[str, Any]:
    if not me.platform_admin:
        raise ApiError(403, "forbidden", "creating projects needs a platform admin's token")
    try:
        with conn.transaction():
            project = conn.execute("INSERT INTO projects (name) VALUES (%s) RETURNING id, name, created_at",
                                   (name,)).fetchone()  # fmt: skip
            assert project is not None
            row, token = issue_token(conn, project["id"], "admin", f"first admin of {name}")
    except psycopg.errors.UniqueViolation:
        raise ApiError(409, "conflict", f"a project named {name!r} exists", {"name": "taken"}) from None
    return {"id": project["id"], "name": project["name"], "createdAt": project["created_at"],
            "adminToken": {**token_view(row), "token": token}}  # fmt: skip


def list_projects(conn: DbConnection, me: Principal) -> list[dict[str, Any]]:
    """Every project for a platform admin; the caller's own for anyone else."""
    rows = conn.execute("SELECT id, name, created_at FROM projects WHERE %s OR id = %s ORDER BY name",
                        (me.platform_admin, me.project_id)).fetchall()  # fmt: skip
    return [{"id": r["id"], "name": r["name"], "createdAt": r["created_at"]} for r in rows]
