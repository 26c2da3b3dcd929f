"""Health probes: /healthz (the process answers) and /readyz (database and Redis reachable)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from strata_common.health import readiness

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    failures = readiness(current_app.config["STRATA_SETTINGS"])
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
