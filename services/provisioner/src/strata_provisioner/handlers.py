"""Step handlers of the provisioner service."""

from __future__ import annotations

from strata_common.engine.registry import step_handler
from strata_common.engine.runner import StepContext


@step_handler("provisioner", "finalize_delete")
def finalize_delete(ctx: StepContext) -> dict:
    """The last step of a delete: runs after every teardown step of the plan, then the cluster is gone."""
    with ctx.db.connection() as conn:
        conn.execute(
            "UPDATE clusters SET phase = 'Deleted', deleted_at = coalesce(deleted_at, now()), updated_at = now()"
            " WHERE id = %s",
            (ctx.step.cluster_id,),
        )
    ctx.event("info", "ClusterDeleted", f"cluster {ctx.cluster['name']} deleted")
    return {"deleted": True}
