"""Readiness checks every process answers on /readyz: the database and Redis reachable."""

from __future__ import annotations

import redis

from strata_common.config import Settings
from strata_common.db.pool import get_pool


def check_database(settings: Settings) -> str | None:
    """None when a query runs, else why not."""
    try:
        with get_pool(settings).connection(timeout=2) as conn:
            conn.execute("SELECT 1")
    except Exception as err:  # any failure means not ready; the message says which
        return f"database unreachable: {type(err).__name__}: {err}".strip()
    return None


def check_redis(settings: Settings) -> str | None:
    """None when Redis answers a ping, else why not."""
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except Exception as err:
        return f"redis unreachable: {type(err).__name__}: {err}".strip()
    finally:
        client.close()
    return None


def readiness(settings: Settings) -> dict[str, str]:
    """The failed checks by name (empty when ready)."""
    checks = (("database", check_database(settings)), ("redis", check_redis(settings)))
    return {name: message for name, message in checks if message}
