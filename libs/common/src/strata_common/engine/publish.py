"""Publishing "look at step N" messages; only ever after the transaction that made N due commits."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from celery import Celery

from strata_common.celery_app import run_step_task


class Publisher:
    def __init__(self, app: Celery):
        self.app = app

    def publish(self, steps: Iterable[dict[str, Any]]) -> int:
        count = 0
        for step in steps:
            self.app.send_task(run_step_task(step["queue"]), args=[step["id"]])
            count += 1
        return count
