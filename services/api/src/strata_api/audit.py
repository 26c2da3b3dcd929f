"""The audit log: every write through the API (POST, PUT, PATCH, DELETE) and every kubeconfig download,
recorded after it is answered with who made it (token id and name, role, project), what (method, path,
resource, id) and the status it got. No request or response body is kept, so no secret is. A database
that is down loses the record of a request that could not have changed anything; that is logged."""

from __future__ import annotations

import logging

import psycopg
from flask import Flask, Response, g, request

from strata_api.http import db
from strata_common.db.tokens import Principal

log = logging.getLogger(__name__)
WRITES = ("POST", "PUT", "PATCH", "DELETE")
INSERT = """
INSERT INTO audit_log (project_id, token_id, token_name, role, method, path, resource, resource_id, status,
                       remote_addr)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


def _target(response: Response) -> tuple[str, str | None]:
    """(the collection the request addresses, the id it names, or the one a create answers with)."""
    resource = request.path.removeprefix("/v1/").split("/", 1)[0]
    ident = next(iter((request.view_args or {}).values()), None)
    if ident is None and response.status_code in (201, 202) and response.is_json:
        body = response.get_json(silent=True)
        ident = body.get("id") if isinstance(body, dict) else None
    return resource, None if ident is None else str(ident)


def register_audit(app: Flask) -> None:
    @app.after_request
    def audit(response: Response) -> Response:
        me = g.get("principal")
        if not isinstance(me, Principal) or me.token_id is None or request.url_rule is None:  # agents: no user
            return response
        if request.method not in WRITES and not request.url_rule.rule.endswith("/kubeconfig"):
            return response
        resource, ident = _target(response)
        try:
            db().execute(INSERT, (me.project_id, me.token_id, me.token_name, me.role, request.method, request.path,
                                  resource, ident, response.status_code, request.remote_addr))  # fmt: skip
        except psycopg.Error as err:
            log.warning("audit record of %s %s (status %s) lost: %s", request.method, request.path,
                        response.status_code, err)  # fmt: skip
        return response
