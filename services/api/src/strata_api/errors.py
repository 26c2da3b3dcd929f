"""Every error leaves the API as JSON {"error": {"code", "message", "fields"}}, never HTML."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from flask import Flask, jsonify
from psycopg import errors as pg_errors
from werkzeug.exceptions import HTTPException

from strata_common.logs import OutageWarning

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 2
_database_down = OutageWarning(log)


class ApiError(Exception):
    """An error answered with `status` and a JSON body naming the fields at fault."""

    def __init__(self, status: int, code: str, message: str, fields: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}


def error_response(status: int, code: str, message: str, fields: dict[str, Any] | None = None):
    body = {"error": {"code": code, "message": message, "fields": fields or {}}}
    return jsonify(body), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(err: ApiError):
        return error_response(err.status, err.code, err.message, err.fields)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        code = (err.name or "error").lower().replace(" ", "_")
        response = error_response(err.code or 500, code, err.description or err.name)
        if err.code == 405 and err.valid_methods:  # type: ignore[attr-defined]
            response[0].headers["Allow"] = ", ".join(err.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(pg_errors.IntegrityError)
    @app.errorhandler(pg_errors.DeadlockDetected)
    @app.errorhandler(pg_errors.SerializationFailure)
    def _concurrent_change(err: Exception):
        log.warning("request lost a race with a concurrent change: %s", err)
        return error_response(409, "concurrent_change", "a concurrent change got in the way; retry the request")

    @app.errorhandler(psycopg.OperationalError)  # the server went away mid-request, or no connection came
    def _database_unavailable(err: Exception):
        _database_down("the database is unavailable: requests answer 503", err)
        response = error_response(503, "database_unavailable", "the database is unavailable; retry shortly")
        response[0].headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "an unexpected error occurred; see the API logs")
