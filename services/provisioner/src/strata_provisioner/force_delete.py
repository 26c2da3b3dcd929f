"""A force delete's one sweep: after a normal delete got stuck (credentials revoked, an account closed),
every resource still tagged with the cluster is deleted if the cloud lets it, once; what it does not (or,
when the cloud will not even list them, every resource Strata recorded making) is kept as a leftover
(`GET /v1/leftovers`) and named in a `LeftoversRecorded` event, and the delete goes on to its end."""

from __future__ import annotations

from typing import Any

from strata_common.cloud_steps import owner
from strata_common.clouds.driver import CloudError
from strata_common.engine.registry import step_handler
from strata_common.engine.runner import StepContext


def _recorded(ctx: StepContext) -> list[tuple[str, str]]:
    """(kind, id) of every resource the cluster's status and machines say Strata made and did not delete."""
    status = ctx.cluster.get("status") or {}
    made = [("network", status["network"])] if status.get("network") else []
    made += [("subnet", subnet) for zones in (status.get("subnets") or {}).values() for subnet in zones.values()]
    made += [("security_group", group) for group in (status.get("securityGroups") or {}).values()]
    made += [("load_balancer", status["loadBalancer"])] if status.get("loadBalancer") else []
    with ctx.db.connection() as conn:
        rows = conn.execute(
            "SELECT instance_id FROM machines WHERE cluster_id = %s AND phase <> 'Deleted'"
            " AND instance_id IS NOT NULL ORDER BY name",
            (ctx.step.cluster_id,),
        ).fetchall()
    return [("instance", row["instance_id"]) for row in rows] + made


@step_handler("provisioner", "force_sweep")
def force_sweep(ctx: StepContext) -> dict:
    """Delete what the cloud lets it delete, once; record the rest. Never retried: it ends either way."""
    left: list[tuple[str, str, str]] = []  # kind, id, reason
    try:
        driver = ctx.deps.driver(ctx.spec.cloud_type, ctx.spec.cloud_account)
        found = [(r.kind, r.id) for r in driver.list_owned(owner(ctx))]
    except CloudError as err:
        left = [(kind, ident, f"not listed: {err.code}: {err.message}") for kind, ident in _recorded(ctx)]
        found = []
    deleted = []
    for kind, ident in found:
        try:
            driver.delete(ident)
            deleted.append(ident)
        except CloudError as err:
            left.append((kind, ident, f"{err.code}: {err.message}"))
    if left:
        _keep(ctx, left)
    return {"deleted": deleted, "leftovers": len(left)}


def _keep(ctx: StepContext, left: list[tuple[str, str, str]]) -> None:
    spec = ctx.spec
    with ctx.db.connection() as conn, conn.transaction():
        project = conn.execute("SELECT project_id FROM clusters WHERE id = %s", (ctx.step.cluster_id,)).fetchone()
        assert project is not None
        conn.execute("DELETE FROM leftovers WHERE cluster_id = %s", (ctx.step.cluster_id,))  # this step run before
        for kind, ident, reason in left:
            conn.execute(
                "INSERT INTO leftovers (project_id, cluster_id, cluster_name, cloud_account_id, cloud, kind, region,"
                " resource_id, reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (project["project_id"], ctx.step.cluster_id, spec.name, spec.cloud_account, spec.cloud_type, kind,
                 spec.region, ident, reason),
            )  # fmt: skip
    listed: list[dict[str, Any]] = [{"kind": k, "id": i, "region": spec.region, "reason": r} for k, i, r in left]
    ctx.event("warning", "LeftoversRecorded",
              f"force delete: {len(left)} resources the cloud did not let Strata delete are left in {spec.region}: "
              + ", ".join(f"{k} {i}" for k, i, _ in left[:20]), {"leftovers": listed})  # fmt: skip
