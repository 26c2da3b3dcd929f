"""Cloud accounts of a project (credentials stay sealed; a view says only whether there are some)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strata_api.queries import project_row
from strata_common.db.types import DbConnection, exists


def own_account(conn: DbConnection, project_id: UUID, account_id: Any) -> dict[str, Any]:
    return project_row(conn, "cloud_accounts", account_id, project_id, "cloud account")


def list_accounts(conn: DbConnection, project_id: UUID) -> list[dict[str, Any]]:
    return conn.execute("SELECT * FROM cloud_accounts WHERE project_id = %s ORDER BY name", (project_id,)).fetchall()


def account_in_use(conn: DbConnection, account_id: UUID) -> bool:
    return exists(
        conn, "SELECT 1 FROM clusters WHERE cloud_account_id = %s AND deleted_at IS NULL LIMIT 1", (account_id,)
    )


def account_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "cloud": row["cloud"],
        "config": row["config"],
        "hasCredentials": row["credentials"] is not None,
        "createdAt": row["created_at"],
    }
