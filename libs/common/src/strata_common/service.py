"""What every worker service shares: its Celery app and the tasks each service answers."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from functools import wraps
from typing import Any
from uuid import UUID

import psycopg
from celery import Celery
from celery.signals import worker_process_shutdown, worker_ready

from strata_common.celery_app import BrokerSender, create_celery
from strata_common.clouds import registry
from strata_common.config import Settings, load_settings
from strata_common.db.agents import mark_silent_agents
from strata_common.db.pool import get_pool
from strata_common.db.types import DbPool
from strata_common.engine.events import append_event
from strata_common.engine.publish import Publisher
from strata_common.engine.redrive import redrive
from strata_common.engine.registry import load_modules
from strata_common.engine.runner import Dependencies, run_step
from strata_common.health import readiness
from strata_common.kube.client import KubeClient
from strata_common.logs import OutageWarning, setup_logging
from strata_common.metrics import exposition
from strata_common.queues import PURGE_TASK, REDRIVE_TASK, ping_task, run_step_task
from strata_common.retention import purge

log = logging.getLogger(__name__)
ClusterTask = Callable[[list[UUID], DbPool, Settings, Dependencies, Publisher], str]
_database_down = OutageWarning(log)


def survives_database_outage(task: Callable[..., Any]) -> Callable[..., Any]:
    """A task that meets a database gone away (restart, failover) ends quietly: its step's lease
    expires and the re-drive runs it again once the database is back. Logged as a warning, once a minute."""

    @wraps(task)
    def run(*args: Any) -> Any:
        try:
            return task(*args)
        except psycopg.OperationalError as err:
            _database_down("the database is unavailable; the re-drive retries once it is back", err)
            return "database unavailable"

    return run


def create_worker_app(service: str, cluster_tasks: dict[str, ClusterTask] | None = None) -> Celery:
    """The Celery app of a worker service: run its steps, answer pings, run beat's re-drive, and the
    service's own tasks on a batch of clusters (`cluster_tasks`: task name -> function of their ids)."""
    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format)
    load_modules(settings.handler_modules)
    app = create_celery(service, settings.redis_url)
    publisher = Publisher(BrokerSender(app))
    worker = f"{service}@{socket.gethostname()}"
    deps = Dependencies(
        driver=lambda cloud, account: registry.driver_for(cloud, account, get_pool(settings), settings), kube=KubeClient
    )

    @worker_ready.connect(weak=False)
    def serve_metrics(**_: Any) -> None:
        """The parent process answers /metrics (summing its children's values), /healthz and /readyz."""
        if settings.metrics_port:
            exposition.serve(settings.api_host, settings.metrics_port, lambda: readiness(settings))

    @worker_process_shutdown.connect(weak=False)
    def forget_child(pid: int | None = None, **_: Any) -> None:
        exposition.mark_process_dead(pid or os.getpid())

    @app.task(name=ping_task(service))
    def ping(token: str) -> None:
        """Record that this service received a ping (idempotent on the token)."""
        with get_pool(settings).connection() as conn:
            conn.execute(
                "INSERT INTO service_pings (token, service, hostname, pid) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (token) DO NOTHING",
                (token, service, socket.gethostname(), os.getpid()),
            )

    @app.task(name=run_step_task(service))
    @survives_database_outage
    def run(step_id: int) -> str:
        """Look at step `step_id`: run it if it can be claimed, else do nothing."""
        return run_step(
            step_id,
            pool=get_pool(settings),
            settings=settings,
            publisher=publisher,
            service=service,
            worker=f"{worker}:{os.getpid()}",
            deps=deps,
        )

    for name, function in (cluster_tasks or {}).items():

        def cluster_task(cluster_ids: list[str], function: ClusterTask = function) -> str:
            return function([UUID(c) for c in cluster_ids], get_pool(settings), settings, deps, publisher)

        app.task(name=name, expires=max(5.0, settings.redrive_interval * 5))(survives_database_outage(cluster_task))

    @app.task(name=REDRIVE_TASK, expires=max(5.0, settings.redrive_interval * 5))
    @survives_database_outage
    def redrive_due() -> int:
        """Publish due steps (scheduled by beat; concurrent runs skip on an advisory lock)."""
        published = redrive(
            get_pool(settings), publisher, settings.step_ready_grace,
            health_interval=settings.health_interval, drift_interval=settings.drift_interval,
        )  # fmt: skip
        if published:
            log.info("re-drive published %d step(s)", published)
        with get_pool(settings).connection() as conn:
            for silent in mark_silent_agents(conn):
                append_event(conn, silent["cluster_id"], "warning", "agent", "AgentSilent", silent["message"])
        return published

    @app.task(name=PURGE_TASK, expires=60.0)
    @survives_database_outage
    def purge_deleted() -> int:
        """Remove deleted clusters' rows past the retention (scheduled by beat)."""
        purged = purge(get_pool(settings), settings.retention)
        if purged:
            log.info("purged %d deleted cluster(s) past the retention", purged)
        return purged

    return app
