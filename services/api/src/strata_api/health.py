"""Health probes: /healthz (the process answers) and /readyz (database and Redis reachable)."""

from __future__ import annotations

import redis
from flask import Blueprint, current_app, jsonify

from strata_common.db.pool import get_pool

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


def _check_database() -> str | None:
    try:
        with get_pool(current_app.config["STRATA_SETTINGS"]).connection(timeout=2) as conn:
            conn.execute("SELECT 1")
    except Exception as err:  # any failure means not ready; the message says which
        return f"database unreachable: {type(err).__name__}: {err}".strip()
    return None


def _check_redis() -> str | None:
    client = redis.Redis.from_url(
        current_app.config["STRATA_SETTINGS"].redis_url, socket_connect_timeout=2, socket_timeout=2
    )
    try:
        client.ping()
    except Exception as err:
        return f"redis unreachable: {type(err).__name__}: {err}".strip()
    finally:
        client.close()
    return None


@bp.get("/readyz")
def readyz():
    failures = {name: msg for name, msg in (("database", _check_database()), ("redis", _check_redis())) if msg}
    if failures:
        body = {
            "error": {
                "code": "not_ready",
                "message": "not ready: " + ", ".join(sorted(failures)),
                "fields": failures,
            }
        }
        return jsonify(body), 503
    return jsonify({"status": "ready", "checks": {"database": "ok", "redis": "ok"}})
