"""The Celery factory every service uses: the queues of `strata_common.queues`, routing by task name."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_process_init
from kombu import Queue
from kombu.exceptions import OperationalError

from strata_common.db.pool import close_pools
from strata_common.queues import CONTROL, QUEUES, queue_of

log = logging.getLogger(__name__)
BROKER_DOWN_SECONDS = 5.0  # after a failed send, sends are skipped this long (each would wait for its retries)


class BrokerSender:
    """`send_task` that outlives a broker outage: a message that cannot be sent is dropped, because
    whatever it announced is in the database and beat's re-drive publishes it again once Redis is back
    (a due step, a due health check). The outage is logged once, as a warning."""

    def __init__(self, app: Celery):
        self.app = app
        self._down = False
        self._skip_until = 0.0

    def send_task(self, name: str, args: Any = None, **options: Any) -> Any:
        if time.monotonic() < self._skip_until:
            return None
        try:
            sent = self.app.send_task(name, args=args, **options)
        except (OperationalError, redis.exceptions.ConnectionError) as err:
            if not self._down:
                log.warning("Redis is unavailable (%s): messages are left to the re-drive until it is back", err)
            self._down, self._skip_until = True, time.monotonic() + BROKER_DOWN_SECONDS
            return None
        if self._down:
            log.warning("Redis is back")
            self._down = False
        return sent


def _route(name: str, args: object, kwargs: object, options: object, task: object = None, **kw: object):
    return {"queue": queue_of(name), "routing_key": queue_of(name)}


def create_celery(service: str, redis_url: str) -> Celery:
    """A Celery app for `service` (one of QUEUES) configured for at-least-once, JSON-only delivery."""
    if service not in QUEUES:
        raise ValueError(f"unknown service {service!r}; expected one of {QUEUES}")
    app = Celery(f"strata-{service}", set_as_current=False)
    app.conf.update(
        broker_url=redis_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 3600},
        result_backend=None,
        task_ignore_result=True,
        task_queues=[Queue(name, routing_key=name) for name in QUEUES],
        task_default_queue=CONTROL,
        task_routes=(_route,),
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        enable_utc=True,
        timezone="UTC",
    )
    return app


@worker_process_init.connect
def _fresh_pools_after_fork(**_: object) -> None:
    """A forked worker child must not share the parent's database connections."""
    close_pools()
