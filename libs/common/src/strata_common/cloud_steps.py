"""What step handlers share about their cluster and its cloud (the typed spec is `ctx.spec`): its
observed status, the driver (from the step context, so tests can hand in a fake), ownership tags and idempotency
tokens, the wait for a pending resource, and the cluster's packs. This is the step's edge of a cloud
call: a CloudError becomes a StepError here and nowhere else."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from strata_common.clouds.driver import PENDING, READY, CloudDriver, CloudError, Resource
from strata_common.db.queries import clusters, packs
from strata_common.engine.errors import TRANSIENT, USER_FIXABLE, Retry, StepError
from strata_common.engine.runner import StepContext
from strata_common.packs.profiles import deep_merge, parse_values


def status_of(ctx: StepContext, key: str) -> Any:
    """What an earlier step recorded in the cluster's status (its dependencies have succeeded, so it is there)."""
    status = ctx.cluster.get("status") or {}
    if key not in status:
        raise StepError("StatusMissing", f"the cluster's status has no {key!r} yet")
    return status[key]


def record_status(ctx: StepContext, **values: Any) -> None:
    """Write what this step learnt into the cluster's status, for the steps after it and the API."""
    with ctx.db.connection() as conn:
        clusters.update_status(conn, ctx.step.cluster_id, ctx.step.generation, **values)


def owner(ctx: StepContext) -> dict[str, str]:
    return {"strata:cluster": str(ctx.step.cluster_id), "strata:managed-by": "strata"}


def token(ctx: StepContext, suffix: str = "") -> str:
    return f"{ctx.step.cluster_id}:{ctx.step.name}{suffix}"


def wait_ready(driver: CloudDriver, resource: Resource) -> Resource:
    """The resource once it is ready; while pending the step requeues (it holds no worker meanwhile)
    and is looked at again when the driver expects it to be ready."""
    if resource.state == PENDING:
        raise Retry(driver.poll_delay(resource), f"{resource.kind} {resource.id} is still pending")
    if resource.state != READY:
        shown = f"{resource.state} ({resource.native_state})" if resource.native_state else resource.state
        raise StepError("ResourceFailed", f"{resource.kind} {resource.id} is {shown}")
    return resource


@contextmanager
def cloud(ctx: StepContext) -> Iterator[CloudDriver]:
    """The cluster's driver; a cloud's refusal becomes a StepError with its code and class."""
    try:
        yield ctx.deps.driver(ctx.spec.cloud_type, ctx.spec.cloud_account)
    except CloudError as err:
        raise StepError(err.code, err.message, USER_FIXABLE if err.user_fixable else TRANSIENT,
                        err.retry_after) from None  # fmt: skip


def layer(ctx: StepContext, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pack definition, effective values) of the profile's layer of `kind`."""
    entry = ctx.spec.layer_of(kind)
    with ctx.db.connection() as conn:
        definition = packs.definition(conn, entry.pack_id)
    return definition, deep_merge(parse_values(definition["values"]), parse_values(entry.values))
