"""The Flask app factory."""

from __future__ import annotations

from flask import Flask

from strata_api.clusters import bp as clusters_bp
from strata_api.errors import register_error_handlers
from strata_api.health import bp as health_bp
from strata_api.notifier import EventNotifier
from strata_common.config import Settings, load_settings
from strata_common.logs import setup_logging


def create_app(settings: Settings | None = None) -> Flask:
    """The API app for `settings` (read from the environment when not given)."""
    settings = settings or load_settings()
    setup_logging(settings.log_level)
    app = Flask("strata_api")
    app.config["STRATA_SETTINGS"] = settings
    app.json.sort_keys = False  # type: ignore[attr-defined]
    register_error_handlers(app)
    app.extensions["strata_notifier"] = EventNotifier(settings.database_url)
    app.register_blueprint(health_bp)
    app.register_blueprint(clusters_bp)
    return app
