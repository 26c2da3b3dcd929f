"""Images a project's cloud accounts hold, with the clusters that run them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strata_api.errors import ApiError
from strata_common.db.types import DbConnection

LIST = """
SELECT i.*, a.cloud, coalesce(array_agg(c.name ORDER BY c.name) FILTER (WHERE c.name IS NOT NULL), '{}') AS users
FROM images i
JOIN cloud_accounts a ON a.id = i.cloud_account_id AND a.project_id = %(project)s
LEFT JOIN clusters c ON c.cloud_account_id = i.cloud_account_id AND c.deleted_at IS NULL
    AND c.spec->'cloud'->>'region' = i.region AND c.status->>'image' = i.image_id
WHERE (%(cloud)s::text IS NULL OR a.cloud = %(cloud)s) AND (%(region)s::text IS NULL OR i.region = %(region)s)
GROUP BY i.cloud_account_id, i.region, i.image_id, a.cloud
ORDER BY a.cloud, i.region, i.created_at, i.image_id
"""


def list_images(conn: DbConnection, project_id: UUID, cloud: str | None, region: str | None) -> list[dict[str, Any]]:
    rows = conn.execute(LIST, {"project": project_id, "cloud": cloud, "region": region}).fetchall()
    return [
        {"imageId": r["image_id"], "cloudAccount": str(r["cloud_account_id"]), "cloud": r["cloud"],
         "region": r["region"], "signature": r["signature"], "source": r["source"], "state": r["state"],
         "pack": r["pack_name"], "packVersion": r["pack_version"], "kubernetesVersion": r["kubernetes_version"],
         "clusters": r["users"], "createdAt": r["created_at"]}
        for r in rows
    ]  # fmt: skip


SCAN = """
SELECT i.image_id, i.signature, i.source, s.status, s.reason, s.benchmark, s.profile, s.score, s.totals, s.rules,
       s.seconds, s.scanned_at
FROM images i JOIN cloud_accounts a ON a.id = i.cloud_account_id AND a.project_id = %s
LEFT JOIN image_scans s ON s.cloud_account_id = i.cloud_account_id AND s.signature = i.signature
WHERE i.image_id = %s LIMIT 1
"""


def image_scan(conn: DbConnection, project_id: UUID, image: str, result: str | None) -> dict[str, Any]:
    """The CIS scan of one of the project's images (its rules with `result` only, if given)."""
    row = conn.execute(SCAN, (project_id, image)).fetchone()
    if row is None:
        raise ApiError(404, "not_found", f"image {image} is not one of this project's")
    if row["status"] is None:
        reason = ("Strata scans the images it builds; this one is used as its OS pack ships it"
                  if row["source"] == "catalog" else "built before Strata scanned the images it builds")  # fmt: skip
        row = {**row, "status": "not-scanned", "reason": reason, "totals": {}, "rules": []}
    return {"image": row["image_id"], "signature": row["signature"], "status": row["status"],
            "reason": row["reason"], "benchmark": row["benchmark"], "profile": row["profile"], "score": row["score"],
            "totals": row["totals"], "seconds": row["seconds"],
            "scannedAt": row["scanned_at"].isoformat() if row["scanned_at"] else None,
            "rules": [rule for rule in row["rules"] if result is None or rule["result"] == result]}  # fmt: skip
