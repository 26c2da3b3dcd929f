"""A cluster's CIS scans: the history with totals, and one scan's results read from its kube-bench report."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strata_api.errors import ApiError
from strata_common.cis import kubebench
from strata_common.cis.scans import summary
from strata_common.db.types import DbConnection


def scan_view(row: dict[str, Any]) -> dict[str, Any]:
    return {"number": row["number"], "benchmark": row["benchmark"], "trigger": row["trigger"],
            "scannedAt": row["scanned_at"], "totals": row["totals"], "summary": summary(row)}  # fmt: skip


def list_scans(conn: DbConnection, cluster_id: UUID) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT cluster_id, number, benchmark, trigger, totals, scanned_at FROM cluster_scans"
                        " WHERE cluster_id = %s ORDER BY number DESC LIMIT 100", (cluster_id,)).fetchall()  # fmt: skip
    return [scan_view(row) for row in rows]


def show_scan(conn: DbConnection, cluster_id: UUID, number: int, status: str | None) -> dict[str, Any]:
    """The scan's results (with `status` only, if given), in benchmark order."""
    row = conn.execute("SELECT * FROM cluster_scans WHERE cluster_id = %s AND number = %s",
                       (cluster_id, number)).fetchone()  # fmt: skip
    if row is None:
        raise ApiError(404, "not_found", f"the cluster has no scan {number}")
    results = [{"id": r.id, "text": r.text, "status": r.status, "scored": r.scored, "section": r.section,
                "nodeType": r.node_type, "actual": r.actual, "remediation": r.remediation, "reason": r.reason}
               for r in kubebench.parse(row["report"]).results if status is None or r.status == status]  # fmt: skip
    return {**scan_view(row), "results": results}
