"""The OpenAPI 3 document, built from the marshmallow schemas and each view's `api` notes (/docs shows it)."""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app, jsonify
from marshmallow import fields, validate

from strata_api.http import DOCS
from strata_api.schemas import ErrorResponse

bp = Blueprint("openapi", __name__)

_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
_ERROR_TEXT = {
    400: "Malformed request", 401: "Missing or unknown token", 403: "The token's role is not enough",
    404: "Not found (or in another project)", 409: "Conflict", 422: "Invalid values; fields names each one",
    503: "The database is unavailable (a restart or failover): retry after Retry-After seconds",
}  # fmt: skip


def _path_schema(kind: str, name: str) -> dict[str, Any]:
    """Path values: `<int:...>` integers, `..._id` the UUIDs the API hands out (anything else is a 404)."""
    if kind == "int":
        return {"type": "integer"}
    return {"type": "string", "format": "uuid"} if name.endswith("_id") else {"type": "string"}


def _exclusive_bounds(self: Any, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
    """apispec states a Range's bounds but not that they are exclusive (OpenAPI 3.0: boolean flags)."""
    ranges = [v for v in field.validators if isinstance(v, validate.Range)]
    bounds = {}
    if any(r.min is not None and not r.min_inclusive for r in ranges):
        bounds["exclusiveMinimum"] = True
    if any(r.max is not None and not r.max_inclusive for r in ranges):
        bounds["exclusiveMaximum"] = True
    return bounds


def build_spec(app: Flask) -> dict[str, Any]:
    marshmallow = MarshmallowPlugin()
    spec = APISpec(
        title="Strata API",
        version="1",
        openapi_version="3.0.3",
        plugins=[marshmallow],
        info={"description": "Clusters from layered cluster profiles. Errors: {error: {code, message, fields}}."},
    )
    assert marshmallow.converter is not None  # set when the spec initialised the plugin
    marshmallow.converter.add_attribute_function(_exclusive_bounds)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("ErrorResponse", schema=ErrorResponse)
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        doc = DOCS.get(getattr(view, "strata_doc_key", ""))
        if doc is None:
            continue
        path = _PARAM.sub(lambda m: "{" + m[2] + "}", rule.rule)
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": _path_schema(kind, name)}
            for kind, name in _PARAM.findall(rule.rule)
        ]
        parameters += [{"name": n, "in": "query", "required": False, "schema": p.schema, "description": p.description}
                       for n, p in doc.query.items()]  # fmt: skip
        if doc.idempotent:
            parameters.append({"name": "Idempotency-Key", "in": "header", "required": False,
                               "schema": {"type": "string", "maxLength": 255},
                               "description": "same key and body: same answer; another body: 409"})  # fmt: skip
        responses: dict[str, Any] = {}
        for status, schema in doc.responses.items():
            if status >= 400:
                responses[str(status)] = {"description": _ERROR_TEXT.get(status, "Error"), **error}
            elif status == 204:
                responses["204"] = {"description": "Done"}
            elif schema is None:
                responses[str(status)] = {"description": "Server-Sent Events", "content": {"text/event-stream": {}}}
            else:
                responses[str(status)] = {"description": "OK", "content": {"application/json": {"schema": schema}}}
        for status in (400, 401, 503) + ((403,) if doc.role != "viewer" else ()) + ((422,) if doc.request else ()):
            responses.setdefault(str(status), {"description": _ERROR_TEXT[status], **error})
        operation: dict[str, Any] = {
            "summary": doc.summary,
            "operationId": rule.endpoint.replace(".", "_"),
            "parameters": parameters,
            "responses": responses,
            "security": [{"bearer": []}],
            "tags": [rule.rule.split("/")[2]],
        }
        if doc.role != "viewer":
            operation["description"] = f"Needs the {doc.role} role."
        if doc.request is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": doc.request}}}
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            spec.path(path=path, operations={method.lower(): operation})
    return spec.to_dict()


@bp.get("/openapi.json")
def openapi_json():
    if "strata_openapi" not in current_app.extensions:
        current_app.extensions["strata_openapi"] = build_spec(current_app)
    return jsonify(current_app.extensions["strata_openapi"])
