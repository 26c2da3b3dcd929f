"""The Flask app factory."""

from __future__ import annotations

from flask import Flask

from strata_api.audit import register_audit
from strata_api.auth import register_auth
from strata_api.errors import register_error_handlers
from strata_api.health import bp as health_bp
from strata_api.http import register_request_guards, release_db
from strata_api.metrics import bp as metrics_bp
from strata_api.metrics import register_metrics
from strata_api.openapi import bp as openapi_bp
from strata_api.resources import (
    agent,
    cloudaccounts,
    clusters,
    images,
    localcloud,
    packs,
    packvalues,
    profiles,
    scans,
    security,
    updates,
    whoami,
)
from strata_api.ui import register_ui
from strata_common.celery_app import BrokerSender, create_celery
from strata_common.config import Settings, load_settings
from strata_common.engine.events import CHANNEL
from strata_common.engine.publish import Publisher
from strata_common.logs import setup_logging
from strata_common.notify import Notifier
from strata_common.queues import CONTROL


def create_app(settings: Settings | None = None) -> Flask:
    """The API app for `settings` (read from the environment when not given)."""
    settings = settings or load_settings()
    setup_logging(settings.log_level, settings.log_format)
    app = Flask("strata_api")
    app.config["STRATA_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["strata_notifier"] = Notifier(settings.database_url, CHANNEL)
    app.extensions["strata_publisher"] = Publisher(BrokerSender(create_celery(CONTROL, settings.redis_url)))
    register_metrics(app)
    register_error_handlers(app)
    register_request_guards(app)
    app.teardown_request(release_db)
    register_auth(app)
    register_audit(app)
    for blueprint in (
        health_bp,
        metrics_bp,
        openapi_bp,
        whoami.bp,
        packs.bp,
        profiles.bp,
        cloudaccounts.bp,
        clusters.bp,
        packvalues.bp,
        updates.bp,
        images.bp,
        scans.bp,
        security.bp,
        localcloud.bp,
        agent.bp,
    ):
        app.register_blueprint(blueprint)
    register_ui(app)
    return app
