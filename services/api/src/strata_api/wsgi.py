"""WSGI entry point for gunicorn: `gunicorn strata_api.wsgi:app`."""

from strata_api.app import create_app

app = create_app()
