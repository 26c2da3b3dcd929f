"""What the engine benchmark runs in real workers: a no-op step handler and a bare no-op Celery task."""

from __future__ import annotations

import os

import redis
from celery import shared_task

from strata_common.engine.registry import step_handler

_redis: redis.Redis | None = None


@step_handler("provisioner", "bench.noop")
def noop_step(ctx) -> None:
    return None


@shared_task(name="strata.provisioner.bench_noop")
def noop_task() -> None:
    """A bare Celery task: it only counts itself, so the benchmark sees when all are done."""
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(os.environ["STRATA_REDIS_URL"])
    _redis.incr("bench:done")
