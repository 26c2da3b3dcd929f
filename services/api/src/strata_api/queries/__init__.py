"""The API's reads by table family (clusters, profiles, accounts, images): a project's row or 404,
lists and views. Reads that workers share live in strata_common.db.queries."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strata_api.errors import ApiError
from strata_common.db.types import DbConnection


def project_row(
    conn: DbConnection, table: str, ident: Any, project_id: UUID, what: str, *, lock: bool = False,
    live_only: bool = False, columns: str = "*",
) -> dict[str, Any]:  # fmt: skip
    """The row `ident` of `table` if it belongs to the project (and is not deleted, for `live_only`); 404 otherwise
    (an id that is not a UUID cannot exist either)."""
    try:
        key = UUID(str(ident))
    except ValueError:
        raise ApiError(404, "not_found", f"{what} {str(ident)!r} not found") from None
    row = conn.execute(
        f"SELECT {columns} FROM {table} WHERE id = %s AND project_id = %s"
        + (" AND deleted_at IS NULL" if live_only else "")
        + (" FOR UPDATE" if lock else ""),
        (key, project_id),
    ).fetchone()
    if row is None:
        raise ApiError(404, "not_found", f"{what} {str(ident)!r} not found")
    return row
