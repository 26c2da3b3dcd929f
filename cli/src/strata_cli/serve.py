"""`strata serve COMPONENT`: validate settings, then exec the component's server process."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from strata_common.config import Settings
from strata_common.metrics.exposition import MULTIPROC_ENV, multiprocess_dir
from strata_common.queues import SERVICES

COMPONENTS = ("api", "kubeapi", *SERVICES, "beat", "flower")


def command_for(component: str, settings: Settings) -> tuple[list[str], dict[str, str]]:
    """The argv and extra environment that run `component` in the foreground."""
    python = sys.executable
    level = settings.log_level.lower()
    if component == "api":
        return [
            python,
            "-m",
            "gunicorn",
            "strata_api.wsgi:app",
            "--config",
            "python:strata_api.gunicorn_conf",
            "--bind",
            f"{settings.api_host}:{settings.api_port}",
            "--workers",
            str(settings.api_workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(settings.api_threads),
            "--graceful-timeout",
            "10",
            "--log-level",
            level,
            "--access-logfile",
            "-",
        ], {}
    if component == "kubeapi":
        return [python, "-m", "strata_localcloud.kubeapi.server"], {}
    if component in SERVICES:
        return [
            python,
            "-m",
            "celery",
            "-A",
            f"strata_{component}.worker:app",
            "worker",
            "--queues",
            f"{component},control",
            "--hostname",
            f"{component}@%h",
            "--concurrency",
            str(settings.worker_concurrency),
            "--loglevel",
            level,
            "--task-events",
            "--without-mingle",  # syncs revoked tasks and clocks at start (1 s); Strata revokes nothing
        ], {}
    if component == "beat":
        schedule = Path(settings.state_dir) / "celerybeat-schedule"
        schedule.parent.mkdir(parents=True, exist_ok=True)
        return [
            python,
            "-m",
            "celery",
            "-A",
            "strata_common.control:app",
            "beat",
            "--schedule",
            str(schedule),
            "--loglevel",
            level,
        ], {}
    if component == "flower":
        env = (
            {"FLOWER_BASIC_AUTH": settings.flower_basic_auth}
            if settings.flower_basic_auth
            else {"FLOWER_UNAUTHENTICATED_API": "true"}
        )
        return [
            python,
            "-m",
            "celery",
            "-A",
            "strata_common.control:app",
            "flower",
            f"--port={settings.flower_port}",
            f"--address={settings.api_host}",
            f"--logging={level}",
        ], env
    raise ValueError(f"unknown component {component!r}; expected one of {', '.join(COMPONENTS)}")


def serve(component: str, settings: Settings) -> None:
    """Replace this process with the component's server (keeps the PID for supervisors). The API's and
    the worker services' processes write their metrics to a directory of their own (multiprocess mode)."""
    argv, extra_env = command_for(component, settings)
    if component == "api" or component in SERVICES:
        extra_env[MULTIPROC_ENV] = os.environ.get(MULTIPROC_ENV) or multiprocess_dir(
            settings.state_dir, component, os.getpid()
        )
    os.execve(argv[0], argv, {**os.environ, **extra_env})
