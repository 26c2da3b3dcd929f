"""The project's audit log, oldest first, paged by id."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from strata_common.db.types import DbConnection

PAGE = """
SELECT * FROM audit_log
WHERE project_id = %(project)s AND id > %(after)s
  AND (%(resource)s::text IS NULL OR resource = %(resource)s) AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)
ORDER BY id LIMIT %(limit)s
"""


def audit_page(conn: DbConnection, project_id: UUID, resource: str | None, since: datetime | None, after: int,
               limit: int) -> list[dict[str, Any]]:  # fmt: skip
    rows = conn.execute(PAGE, {"project": project_id, "resource": resource, "since": since, "after": after,
                               "limit": limit}).fetchall()  # fmt: skip
    return [{"id": r["id"], "at": r["at"], "tokenId": r["token_id"], "tokenName": r["token_name"], "role": r["role"],
             "method": r["method"], "path": r["path"], "resource": r["resource"], "resourceId": r["resource_id"],
             "status": r["status"], "remoteAddr": r["remote_addr"]} for r in rows]  # fmt: skip
