"""A cluster's CIS Kubernetes Benchmark scans: the history, one scan's results, and a scan run now."""

from __future__ import annotations

from flask import Blueprint

from strata_api.errors import ApiError
from strata_api.http import api, choice_arg, db, one_of, reply, settings, transaction
from strata_api.queries import scans
from strata_api.resources.clusters import own_cluster_id
from strata_api.schemas.scans import ScanList, ScanReport, ScanSummary
from strata_common.cis.kubebench import STATUSES
from strata_common.cis.scans import NotScannable, scan_cluster

bp = Blueprint("scans", __name__, url_prefix="/v1/clusters")


@bp.get("/<cluster_id>/scans")
@api("The cluster's CIS scans, newest first (after each create and update, and on demand)",
     responses={200: ScanList, 404: None})  # fmt: skip
def list_scans(cluster_id: str):
    return reply(200, ScanList, {"items": scans.list_scans(db(), own_cluster_id(cluster_id))})


@bp.get("/<cluster_id>/scans/<int:number>")
@api("One scan: each CIS check's status, actual value and remediation; filter by status",
     responses={200: ScanReport, 404: None},
     query={"status": one_of("only checks with this status", STATUSES)})  # fmt: skip
def show_scan(cluster_id: str, number: int):
    status = choice_arg("status", STATUSES)
    return reply(200, ScanReport, scans.show_scan(db(), own_cluster_id(cluster_id), number, status))


@bp.post("/<cluster_id>/scans")
@api("Scan the cluster now against the CIS Kubernetes Benchmark", role="operator",
     responses={202: ScanSummary, 404: None, 409: None})  # fmt: skip
def run_scan(cluster_id: str):
    ident = own_cluster_id(cluster_id)
    try:
        with transaction() as conn:
            done = scan_cluster(conn, ident, settings(), "demand")
    except NotScannable as err:
        raise ApiError(409, "conflict", f"the cluster cannot be scanned yet: {err}") from None
    return reply(202, ScanSummary, scans.scan_view(done))
