"""What the project's force deletes left in the clouds, newest first."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strata_common.db.types import DbConnection

LEFTOVERS = """
SELECT * FROM leftovers WHERE project_id = %s AND (%s::text IS NULL OR cluster_id::text = %s)
ORDER BY id DESC LIMIT 1000
"""


def leftovers(conn: DbConnection, project_id: UUID, cluster: str | None) -> list[dict[str, Any]]:
    rows = conn.execute(LEFTOVERS, (project_id, cluster, cluster)).fetchall()
    return [{"cluster": {"id": r["cluster_id"], "name": r["cluster_name"]}, "cloudAccount": r["cloud_account_id"],
             "cloud": r["cloud"], "kind": r["kind"], "region": r["region"], "id": r["resource_id"],
             "reason": r["reason"], "recordedAt": r["recorded_at"]} for r in rows]  # fmt: skip
