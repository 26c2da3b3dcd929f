"""Step handlers the engine tests load into real worker processes (STRATA_HANDLER_MODULES)."""

from __future__ import annotations

import time

from strata_common.engine.errors import USER_FIXABLE, StepError
from strata_common.engine.registry import step_handler
from strata_common.engine.runner import StepContext

SCHEMA = """
CREATE TABLE IF NOT EXISTS effects (key text PRIMARY KEY, step_id bigint NOT NULL);
CREATE TABLE IF NOT EXISTS executions (id bigserial PRIMARY KEY, step_id bigint NOT NULL, attempt int NOT NULL,
                                       at timestamptz NOT NULL DEFAULT clock_timestamp());
"""


def _log_execution(ctx: StepContext) -> None:
    with ctx.db.connection() as conn:
        conn.execute("INSERT INTO executions (step_id, attempt) VALUES (%s, %s)", (ctx.step.id, ctx.step.attempts))


@step_handler("provisioner", "test.ensure_row")
def ensure_row(ctx: StepContext) -> dict:
    """Level-triggered: create the row keyed by input.key unless it exists; sleep on the first attempt."""
    _log_execution(ctx)
    key = ctx.step.input["key"]
    with ctx.db.connection() as conn:
        if conn.execute("SELECT 1 FROM effects WHERE key = %s", (key,)).fetchone() is None:
            conn.execute("INSERT INTO effects (key, step_id) VALUES (%s, %s)", (key, ctx.step.id))
    if ctx.step.attempts == 1:
        time.sleep(ctx.step.input.get("sleep_first", 0))
    return {"key": key}


@step_handler("provisioner", "test.flaky")
def flaky(ctx: StepContext) -> dict:
    """Fail with a user-fixable error for the first input.failures attempts, each taking input.seconds."""
    _log_execution(ctx)
    time.sleep(ctx.step.input.get("seconds", 0))
    if ctx.step.attempts <= ctx.step.input["failures"]:
        raise StepError("VcpuLimitExceeded", "You have requested more vCPU capacity than allowed", USER_FIXABLE)
    return {"attempts": ctx.step.attempts}


@step_handler("provisioner", "test.work")
def work(ctx: StepContext) -> dict:
    """Record an execution, optionally taking input.seconds."""
    _log_execution(ctx)
    time.sleep(ctx.step.input.get("seconds", 0))
    return {"done": True}
