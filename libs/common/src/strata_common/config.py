"""One settings object for every Strata process, read from STRATA_* environment variables.

A missing or malformed value raises ConfigError whose message is one line naming the variable;
entry points print it and exit with status 2.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """A configuration value is missing or malformed; str() is one line naming the variable."""


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _database_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"{name} must be a postgresql:// URL (got scheme {parts.scheme or 'none'!r})")
    if not (parts.path.strip("/") or "dbname=" in parts.query):
        raise ConfigError(f"{name} must name a database, e.g. postgresql://user@host:5432/strata")
    if not (parts.hostname or "host=" in parts.query):
        raise ConfigError(f"{name} must name a host, e.g. postgresql://user@host:5432/strata")
    return raw


def _redis_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigError(f"{name} must be a redis:// or rediss:// URL (got scheme {parts.scheme or 'none'!r})")
    if not parts.hostname:
        raise ConfigError(f"{name} must name a host, e.g. redis://127.0.0.1:6379/0")
    return raw


def _secret_key(name: str, raw: str) -> str:
    if len(raw) < 32:
        raise ConfigError(f"{name} must be at least 32 characters (generate one with `strata secret-key`)")
    return raw


def _log_level(name: str, raw: str) -> str:
    level = raw.upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"{name} must be one of {', '.join(LOG_LEVELS)} (got {raw!r})")
    return level


def _log_format(name: str, raw: str) -> str:
    if raw not in ("text", "json"):
        raise ConfigError(f"{name} must be text or json (got {raw!r})")
    return raw


def _int_between(low: int, high: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be an integer (got {raw!r})") from None
        if not low <= value <= high:
            raise ConfigError(f"{name} must be between {low} and {high} (got {value})")
        return value

    return parse


def _positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number (got {raw!r})") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative (got {value})")
    return value


def _text(name: str, raw: str) -> str:
    return raw


def _cidr(name: str, raw: str) -> str:
    try:
        return str(ipaddress.ip_network(raw, strict=False))
    except ValueError:
        raise ConfigError(f"{name} must be a CIDR block such as 203.0.113.7/32 (got {raw!r})") from None


@dataclass(frozen=True)
class Var:
    """How one setting is read: its variable, parser, default (None = required) and description."""

    env: str
    parse: Callable[[str, str], Any]
    default: str | None
    doc: str


# Field name -> how to read it. The README's configuration table lists the same variables.
VARIABLES: dict[str, Var] = {
    "database_url": Var("STRATA_DATABASE_URL", _database_url, None, "PostgreSQL URL (psycopg 3)"),
    "redis_url": Var("STRATA_REDIS_URL", _redis_url, None, "Redis URL: the Celery broker"),
    "secret_key": Var("STRATA_SECRET_KEY", _secret_key, None, "key for secrets at rest, 32+ characters"),
    "log_level": Var("STRATA_LOG_LEVEL", _log_level, "INFO", "DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    "log_format": Var(
        "STRATA_LOG_FORMAT",
        _log_format,
        "text",
        "text, or json: one JSON object per line with the cluster id and step name where there is one",
    ),
    "api_host": Var(
        "STRATA_API_HOST", _text, "127.0.0.1", "address the API, Flower and the worker services' metrics bind"
    ),
    "api_port": Var("STRATA_API_PORT", _int_between(1, 65535), "8080", "port the API listens on"),
    "api_workers": Var("STRATA_API_WORKERS", _int_between(1, 64), "4", "gunicorn worker processes"),
    "api_threads": Var(
        "STRATA_API_THREADS", _int_between(1, 1000), "128", "threads per API worker (each open event stream holds one)"
    ),
    "metrics_port": Var(
        "STRATA_METRICS_PORT",
        _int_between(0, 65535),
        "0",
        "port a worker service answers /metrics, /healthz and /readyz on (0 = none; the API answers on its own)",
    ),
    "flower_port": Var("STRATA_FLOWER_PORT", _int_between(1, 65535), "5555", "port Flower listens on"),
    "flower_basic_auth": Var(
        "STRATA_FLOWER_BASIC_AUTH", _text, "", "user:password for Flower; empty = open API on loopback"
    ),
    "worker_concurrency": Var("STRATA_WORKER_CONCURRENCY", _int_between(1, 256), "2", "processes per worker service"),
    "db_pool_max": Var("STRATA_DB_POOL_MAX", _int_between(1, 100), "4", "connections per process pool"),
    "state_dir": Var("STRATA_STATE_DIR", _text, ".strata", "where `strata up` keeps embedded data"),
    "step_backoff_base": Var(
        "STRATA_STEP_BACKOFF_BASE", _positive_float, "2", "first retry delay of a failed step, seconds"
    ),
    "step_backoff_cap": Var(
        "STRATA_STEP_BACKOFF_CAP", _positive_float, "300", "longest retry delay of a failed step, seconds"
    ),
    "step_lease_seconds": Var(
        "STRATA_STEP_LEASE_SECONDS",
        _positive_float,
        "60",
        "how long a claimed step is held without heartbeat",
    ),
    "step_ready_grace": Var(
        "STRATA_STEP_READY_GRACE", _positive_float, "10", "ready steps unclaimed this long are re-published"
    ),
    "handler_modules": Var(
        "STRATA_HANDLER_MODULES", _text, "", "extra comma-separated modules registering step handlers (plugins)"
    ),
    "localcloud_time_scale": Var(
        "STRATA_LOCALCLOUD_TIME_SCALE", _positive_float, "0.1", "local cloud latencies x this (0 = instant, 1 = real)"
    ),
    "kubeapi_url": Var(
        "STRATA_KUBEAPI_URL",
        _text,
        "https://127.0.0.1:6443",
        "where the local cloud's Kubernetes API emulator listens and clients reach it",
    ),
    "redrive_interval": Var("STRATA_REDRIVE_INTERVAL", _positive_float, "2", "seconds between beat re-drive passes"),
    "health_interval": Var(
        "STRATA_HEALTH_INTERVAL", _positive_float, "60", "seconds between health checks of a Running cluster"
    ),
    "drift_interval": Var(
        "STRATA_DRIFT_INTERVAL",
        _positive_float,
        "600",
        "seconds between drift checks of a Running cluster's add-ons (at a health check once this long has passed)",
    ),
    "scan_interval": Var(
        "STRATA_SCAN_INTERVAL",
        _positive_float,
        "86400",
        "seconds between CIS scans of a Running cluster (at a health check once this long has passed since its last)",
    ),
    "retention": Var(
        "STRATA_RETENTION_SECONDS",
        _positive_float,
        "604800",
        "how long a deleted cluster's steps, conditions and events (and the local cloud's deleted resources) are kept",
    ),
    "builder_ssh_cidr": Var(
        "STRATA_BUILDER_SSH_CIDR",
        _cidr,
        "0.0.0.0/0",
        "where image builder VMs take SSH from: the image builder service's public address (/32) in production",
    ),
    "agent_token_seconds": Var(
        "STRATA_AGENT_TOKEN_SECONDS",
        _positive_float,
        "86400",
        "how long a cluster agent's token is good for (the agent rotates it before it expires)",
    ),
    "agent_api_url": Var(
        "STRATA_AGENT_API_URL",
        _text,
        "http://127.0.0.1:8080",
        "the API's URL as the agents of pull-mode clusters reach it (their clusters call out to it)",
    ),
    "agent_image": Var(
        "STRATA_AGENT_IMAGE",
        _text,
        "ghcr.io/strata-platform/strata-agent:0.1.0",
        "the agent's image (Dockerfile --target agent); the local cloud runs the agent's code for its pods",
    ),
    "agent_long_polls": Var(
        "STRATA_AGENT_LONG_POLLS",
        _int_between(0, 10000),
        "64",
        "agents' polls an API worker holds open at once until their desired state changes (each holds a thread: "
        "at most half its threads; beyond it, a poll is answered at once and the agent polls after its interval)",
    ),
    "agent_interval": Var(
        "STRATA_AGENT_INTERVAL",
        _positive_float,
        "10",
        "seconds between an agent's polls of its desired state (a 304 while it is unchanged)",
    ),
}


@dataclass(frozen=True)
class Settings:
    """Validated settings of one process."""

    database_url: str
    redis_url: str
    secret_key: str
    log_level: str
    log_format: str
    api_host: str
    api_port: int
    api_workers: int
    api_threads: int
    metrics_port: int
    flower_port: int
    flower_basic_auth: str
    worker_concurrency: int
    db_pool_max: int
    state_dir: str
    step_backoff_base: float
    step_backoff_cap: float
    step_lease_seconds: float
    step_ready_grace: float
    handler_modules: str
    localcloud_time_scale: float
    kubeapi_url: str
    redrive_interval: float
    health_interval: float
    drift_interval: float
    scan_interval: float
    retention: float
    builder_ssh_cidr: str
    agent_token_seconds: float
    agent_api_url: str
    agent_image: str
    agent_long_polls: int
    agent_interval: float


def read_var(field: str, environ: Mapping[str, str] | None = None) -> Any:
    """Read and validate one setting by its field name (for commands that need only that one)."""
    env = os.environ if environ is None else environ
    var = VARIABLES[field]
    raw = env.get(var.env, "").strip()
    if not raw:
        if var.default is None:
            raise ConfigError(f"{var.env} is not set ({var.doc})")
        raw = var.default
    return var.parse(var.env, raw)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raise ConfigError naming the first bad variable."""
    return Settings(**{field.name: read_var(field.name, environ) for field in fields(Settings)})
