"""The Scanned milestone: the cluster's CIS Kubernetes Benchmark scan once its add-ons are in place, after
every create and update; its totals become the condition's message and a `ClusterScanned` event."""

from __future__ import annotations

from strata_common.cis.scans import NotScannable, scan_cluster, summary
from strata_common.engine.errors import StepError
from strata_common.engine.registry import step_handler
from strata_common.engine.runner import StepContext


@step_handler("provisioner", "scan_cluster")
def scan(ctx: StepContext) -> dict:
    with ctx.db.connection() as conn:
        try:
            done = scan_cluster(conn, ctx.step.cluster_id, ctx.settings, ctx.step.input.get("trigger", "create"))
        except NotScannable as err:
            raise StepError("PkiMissing", str(err)) from None
    said = summary(done)
    ctx.event("info", "ClusterScanned", f"scan {done['number']}: {said}", {"scan": done["number"], **done["totals"]})
    return {"scan": done["number"], "totals": done["totals"], "conditionMessage": said}
