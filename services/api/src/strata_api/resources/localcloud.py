"""Administration of the built-in local cloud: injected faults, request throttling and per-region vCPU quotas."""

from __future__ import annotations

from flask import Blueprint

from strata_api.errors import ApiError
from strata_api.http import api, db, load_json, reply, transaction
from strata_api.schemas.localcloud import (
    ACTIONS,
    FaultCreate,
    FaultList,
    FaultsCleared,
    FaultView,
    QuotaUpdate,
    RegionList,
    RegionView,
    ThrottlingList,
    ThrottlingUpdate,
    ThrottlingView,
)
from strata_common.clouds import registry

bp = Blueprint("localcloud", __name__, url_prefix="/v1/localcloud")
local = registry.plugin("local").admin()


def _region_view(row) -> dict:
    return {"name": row["name"], "vcpuQuota": row["vcpu_quota"], "vcpusUsed": row["vcpus_used"]}


@bp.post("/faults")
@api("Make the next `count` calls of a local cloud action fail with `code`", role="admin",
     request_schema=FaultCreate, responses={201: FaultView, 422: None})  # fmt: skip
def create_fault():
    data = load_json(FaultCreate())
    with transaction() as conn:
        return reply(
            201, FaultView, local.add_fault(conn, data["action"], data["code"], data["message"], data["count"])
        )


@bp.get("/faults")
@api("Faults still waiting to fire", role="admin", responses={200: FaultList})
def get_faults():
    return reply(200, FaultList, {"items": local.list_faults(db())})


@bp.delete("/faults/<int:fault_id>")
@api("Remove a fault that has not fired yet", role="admin", responses={204: None, 404: None})
def delete_fault(fault_id: int):
    with transaction() as conn:
        if not local.remove_fault(conn, fault_id):
            raise ApiError(404, "not_found", f"no fault {fault_id} is waiting to fire")
    return "", 204


@bp.delete("/faults")
@api("Remove every fault", role="admin", responses={200: FaultsCleared})
def delete_faults():
    with transaction() as conn:
        return reply(200, FaultsCleared, {"removed": local.clear_faults(conn)})


@bp.get("/regions")
@api("Local cloud regions with their vCPU quota and use", responses={200: RegionList})
def get_regions():
    return reply(200, RegionList, {"items": [_region_view(r) for r in local.list_regions(db())]})


@bp.put("/regions/<region>/quota")
@api("Set a region's vCPU quota", role="admin", request_schema=QuotaUpdate, responses={200: RegionView, 404: None})
def put_quota(region: str):
    data = load_json(QuotaUpdate())
    with transaction() as conn:
        if local.set_quota(conn, region, data["vcpus"]) is None:
            raise ApiError(404, "not_found", f"local cloud region {region!r} not found")
    return reply(200, RegionView, next(_region_view(r) for r in local.list_regions(db()) if r["name"] == region))


@bp.get("/throttling")
@api("The token bucket of every local cloud action", responses={200: ThrottlingList})
def get_throttling():
    return reply(200, ThrottlingList, {"items": local.list_throttling(db())})


@bp.put("/throttling/<action>")
@api("Set an action's request rate and burst (RequestLimitExceeded past them)", role="admin",
     request_schema=ThrottlingUpdate, responses={200: ThrottlingView, 404: None})  # fmt: skip
def put_throttling(action: str):
    data = load_json(ThrottlingUpdate())
    with transaction() as conn:
        row = local.set_throttling(conn, action, data["rate"], data["burst"])
    return reply(200, ThrottlingView, _found(row, action))


@bp.delete("/throttling/<action>")
@api("Put an action's request rate and burst back to the defaults", role="admin",
     responses={200: ThrottlingView, 404: None})  # fmt: skip
def delete_throttling(action: str):
    with transaction() as conn:
        row = local.reset_throttling(conn, action)
    return reply(200, ThrottlingView, _found(row, action))


def _found(row: dict | None, action: str) -> dict:
    if row is None:
        raise ApiError(404, "not_found", f"local cloud action {action!r} not found; one of {', '.join(ACTIONS)}")
    return row
