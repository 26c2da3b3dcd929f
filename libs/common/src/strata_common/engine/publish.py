"""Publishing "look at step N" messages; only ever after the transaction that made N due commits.

A step that waits (Retry) or backs off is also published with a countdown, so it runs when its wait
is over rather than at beat's next re-drive pass; beat remains the safety net for lost messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from strata_common.engine.model import Step
from strata_common.queues import run_step_task

# Longer waits are left to beat: a Redis broker redelivers countdown messages held past its
# visibility timeout, and a worker holds them in memory meanwhile.
MAX_COUNTDOWN = 60.0


class TaskSender(Protocol):
    """What the engine needs of a Celery app: sending a task by name (the engine imports no Celery)."""

    def send_task(self, name: str, args: Any = None, **options: Any) -> Any: ...


class Publisher:
    def __init__(self, app: TaskSender):
        self.app = app

    def publish(self, steps: Iterable[dict[str, Any]]) -> int:
        count = 0
        for step in steps:
            self.app.send_task(run_step_task(step["queue"]), args=[step["id"]])
            count += 1
        return count

    @staticmethod
    def sends_later(after: float) -> bool:
        """Whether `publish_later(step, after)` sends a message (else beat publishes the step when due)."""
        return after <= MAX_COUNTDOWN

    def publish_later(self, step: Step, after: float) -> None:
        if self.sends_later(after):
            self.app.send_task(run_step_task(step.queue), args=[step.id], countdown=after)
