"""What the engine benchmark runs in real workers: a no-op step handler and a bare no-op Celery task."""

from __future__ import annotations

import os

import redis
from celery import current_app, shared_task

from strata_common.engine.registry import step_handler

_redis: redis.Redis | None = None


def _count_done() -> None:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(os.environ["STRATA_REDIS_URL"])
    _redis.incr("bench:done")


@step_handler("provisioner", "bench.noop")
def noop_step(ctx) -> None:
    return None


@shared_task(name="strata.provisioner.bench_noop")
def noop_task() -> None:
    """A bare Celery task: it only counts itself, so the benchmark sees when all are done."""
    _count_done()


@shared_task(name="strata.provisioner.bench_chain")
def chain_task(left: int) -> None:
    """A chain of bare tasks: each counts itself and sends the next, like a step unblocking its dependent."""
    _count_done()
    if left > 1:
        current_app.send_task("strata.provisioner.bench_chain", args=[left - 1])
