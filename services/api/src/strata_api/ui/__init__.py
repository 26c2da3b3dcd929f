"""The web console (/ui) and the interactive API reference (/docs), served by the API process."""

from __future__ import annotations

import hashlib

from flask import Flask

from strata_api.ui import docs, views


def register_ui(app: Flask) -> None:
    """The console's blueprints; Flask's own signed session (a key derived from STRATA_SECRET_KEY) carries
    only the message a change met to the page the browser is redirected to."""
    secret = app.config["STRATA_SETTINGS"].secret_key
    app.secret_key = hashlib.sha256(f"strata-console-flash:{secret}".encode()).hexdigest()
    app.config.update(SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_PATH="/ui")
    app.register_blueprint(views.bp)
    app.register_blueprint(docs.bp)
