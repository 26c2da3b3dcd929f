"""What every worker service shares: its Celery app and the tasks each service answers."""

from __future__ import annotations

import os
import socket

from celery import Celery

from strata_common.celery_app import create_celery, ping_task
from strata_common.config import load_settings
from strata_common.db.pool import get_pool
from strata_common.logs import setup_logging


def create_worker_app(service: str) -> Celery:
    """The Celery app of a worker service, with the tasks every service answers."""
    settings = load_settings()
    setup_logging(settings.log_level)
    app = create_celery(service, settings.redis_url)

    @app.task(name=ping_task(service), ignore_result=True)
    def ping(token: str) -> None:
        """Record that this service received a ping (idempotent on the token)."""
        with get_pool(settings).connection() as conn:
            conn.execute(
                "INSERT INTO service_pings (token, service, hostname, pid) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (token) DO NOTHING",
                (token, service, socket.gethostname(), os.getpid()),
            )

    return app
