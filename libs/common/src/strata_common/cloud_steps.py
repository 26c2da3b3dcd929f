"""What every step handler that works on a cluster's cloud shares: its driver, ownership tags and
idempotency tokens, the wait for a pending resource, and the cluster's packs and earlier outputs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from strata_common.clouds.driver import CloudDriver, CloudError, Resource
from strata_common.db.types import one
from strata_common.engine.errors import TRANSIENT, USER_FIXABLE, Retry, StepError
from strata_common.engine.runner import StepContext
from strata_common.packs.profiles import deep_merge, parse_values


def owner(ctx: StepContext) -> dict[str, str]:
    return {"strata:cluster": str(ctx.step.cluster_id), "strata:managed-by": "strata"}


def token(ctx: StepContext, suffix: str = "") -> str:
    return f"{ctx.step.cluster_id}:{ctx.step.name}{suffix}"


def wait_ready(driver: CloudDriver, resource: Resource, ready: str) -> Resource:
    """The resource once it is `ready`; while pending the step requeues (it holds no worker meanwhile)
    and is looked at again when the driver expects it to be ready."""
    if resource.state == "pending":
        raise Retry(driver.poll_delay(resource), f"{resource.kind} {resource.id} is still pending")
    if resource.state != ready:
        raise StepError("ResourceFailed", f"{resource.kind} {resource.id} is {resource.state}")
    return resource


@contextmanager
def cloud(ctx: StepContext) -> Iterator[CloudDriver]:
    """The cluster's driver; a cloud's refusal becomes a StepError with its code and class (the one place
    where the cloud's vocabulary meets the engine's)."""
    try:
        yield ctx.deps.driver(ctx.cluster["spec"]["cloudType"])
    except CloudError as err:
        raise StepError(err.code, err.message, USER_FIXABLE if err.user_fixable else TRANSIENT) from None


def region(ctx: StepContext) -> str:
    return ctx.cluster["spec"]["cloud"]["region"]


def step_output(ctx: StepContext, step_name: str) -> dict[str, Any]:
    """The output of an earlier step of this generation (its dependencies have succeeded)."""
    with ctx.db.connection() as conn:
        row = conn.execute(
            "SELECT output FROM steps WHERE cluster_id = %s AND generation = %s AND name = %s",
            (ctx.step.cluster_id, ctx.step.generation, step_name),
        ).fetchone()
    return row["output"] if row and row["output"] else {}


def layer(ctx: StepContext, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pack definition, effective values) of the profile's layer of `kind`."""
    entry = next(entry for entry in ctx.cluster["spec"]["layers"] if entry["layer"] == kind)
    with ctx.db.connection() as conn:
        definition = conn.execute("SELECT definition FROM packs WHERE id = %s", (entry["packId"],)).fetchone()
    definition = one(definition)["definition"]
    return definition, deep_merge(parse_values(definition["values"]), parse_values(entry["values"]))
