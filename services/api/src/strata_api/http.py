"""The thin edge of every view: auth, JSON in through a schema, one command, JSON out; OpenAPI notes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import current_app, g, jsonify, request
from marshmallow import Schema, ValidationError
from psycopg import Connection
from psycopg.types.json import Jsonb

from strata_api.commands import Work, unit_of_work
from strata_api.errors import ApiError
from strata_common.config import Settings
from strata_common.db.pool import get_pool
from strata_common.db.tokens import Principal
from strata_common.schemas import flatten_errors


@dataclass(frozen=True)
class Param:
    """A query parameter as the OpenAPI document states it: what it means and the values it takes."""

    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})


def integer(description: str, low: int, high: int) -> Param:
    """A query parameter `int_arg` reads with these bounds."""
    return Param(description, {"type": "integer", "minimum": low, "maximum": high})


def one_of(description: str, values: Iterable[str]) -> Param:
    return Param(description, {"type": "string", "enum": list(values)})


@dataclass
class Doc:
    summary: str
    request: type[Schema] | None = None
    responses: dict[int, type[Schema] | None] = field(default_factory=dict)
    role: str = "viewer"
    query: dict[str, Param] = field(default_factory=dict)
    idempotent: bool = False


DOCS: dict[str, Doc] = {}  # view function qualified name -> its documentation


def register_request_guards(app) -> None:
    """Query and path values PostgreSQL cannot store are a 400, not a database error."""

    @app.before_request
    def reject_unstorable_parameters() -> None:
        for name, value in [*request.args.items(), *(request.view_args or {}).items()]:
            if isinstance(value, str) and _unstorable_text(value):
                raise ApiError(400, "invalid_parameter", f"{name} holds NUL or unpaired surrogate characters",
                               {name: "invalid text"})  # fmt: skip


def pool():
    return get_pool(current_app.config["STRATA_SETTINGS"], autocommit=True)


def db() -> Connection:
    """This request's connection (autocommit: each statement stands alone); returned at teardown."""
    if "db" not in g:
        g.db = pool().getconn()
    return g.db


def release_db(_: BaseException | None = None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        pool().putconn(conn)


@contextmanager
def transaction() -> Iterator[Connection]:
    """This request's connection inside one transaction: its work commits together or not at all."""
    conn = db()
    with conn.transaction():
        yield conn


def principal() -> Principal:
    return g.principal


def settings() -> Settings:
    return current_app.config["STRATA_SETTINGS"]


@contextmanager
def work() -> Iterator[Work]:
    """This request's connection as a command's unit of work: one transaction of the caller's project,
    its ready steps published after commit."""
    with unit_of_work(db(), principal().project_id, settings(), current_app.extensions["strata_publisher"]) as unit:
        yield unit


def api(
    summary: str,
    *,
    role: str = "viewer",
    request_schema: type[Schema] | None = None,
    responses: dict[int, type[Schema] | None] | None = None,
    query: dict[str, str | Param] | None = None,
    idempotent: bool = False,
) -> Callable:
    """Document a view for OpenAPI and enforce its minimum role (and Idempotency-Key when set)."""

    def decorate(fn: Callable) -> Callable:
        @wraps(fn)
        def view(*args: Any, **kwargs: Any) -> Any:
            if not principal().can(role):
                raise ApiError(403, "forbidden", f"this needs the {role} role; your token has {principal().role}")
            if idempotent and request.headers.get("Idempotency-Key"):
                replay = _idempotent_replay()
                if replay is not None:
                    return replay
            return fn(*args, **kwargs)

        DOCS[fn.__module__ + "." + fn.__qualname__] = Doc(
            summary,
            request_schema,
            responses or {200: None},
            role,
            {name: p if isinstance(p, Param) else Param(p) for name, p in (query or {}).items()},
            idempotent,
        )
        view.strata_doc_key = fn.__module__ + "." + fn.__qualname__  # type: ignore[attr-defined]
        return view

    return decorate


def load_json(schema: Schema) -> dict[str, Any]:
    """The request body validated by `schema`: 400 if it is not JSON, 422 naming each bad field."""
    body = request.get_json(silent=True, force=True)
    if body is None:
        raise ApiError(400, "invalid_json", "the request body must be a JSON document", {"body": "not valid JSON"})
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object", {"body": "not an object"})
    bad = _unstorable_text(body)
    if bad is not None:
        raise ApiError(422, "invalid", f"{bad}: text with NUL or unpaired surrogate characters", {bad: "invalid text"})
    try:
        return schema.load(body)
    except ValidationError as err:
        fields = flatten_errors(err.messages)
        first = next(iter(fields.items()))
        raise ApiError(422, "invalid", f"{first[0]}: {first[1]}", fields) from None


def _unstorable_text(value: Any, path: str = "") -> str | None:
    """The path of the first string PostgreSQL cannot store (NUL, or not encodable as UTF-8)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "body"
        return (path or "body") if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        found = _unstorable_text(key, where) if isinstance(key, str) else None
        found = found or _unstorable_text(item, where)
        if found:
            return found
    return None


def reply(status: int, schema: type[Schema], obj: Any, conn: Connection | None = None, *, ready: bool = False):
    """Serialize `obj`; in a create's transaction also remember it under the request's Idempotency-Key.
    `ready`: `obj` is already the JSON `schema` describes (cluster views built by PostgreSQL, event views
    built key by key: marshmallow's dump was half of a 100-cluster page's time); the e2e tests validate
    those answers against their schemas."""
    body = obj if ready else _instance(schema).dump(obj)
    if conn is not None and (key := request.headers.get("Idempotency-Key")):
        stored = conn.execute(
            "INSERT INTO idempotency_keys (project_id, key, request, status, response) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (principal().project_id, key, _fingerprint(), status, Jsonb(body)),
        )
        if stored.rowcount != 1:
            raise ApiError(409, "idempotency_conflict", "a request with this Idempotency-Key was just made; retry it")
    return jsonify(body), status


_schemas: dict[type[Schema], Schema] = {}


def _instance(schema: type[Schema]) -> Schema:
    """One instance per schema class: building one deep-copies its fields, dumping with it is thread-safe."""
    instance = _schemas.get(schema)
    if instance is None:
        instance = _schemas.setdefault(schema, schema())
    return instance


def _fingerprint() -> str:
    return f"{request.method} {request.path} sha256:{hashlib.sha256(request.get_data()).hexdigest()}"


def _idempotent_replay():
    key = request.headers["Idempotency-Key"]
    if len(key.encode("latin-1").decode("utf-8", "replace")) > 255:  # WSGI hands headers over as latin-1
        raise ApiError(
            400, "invalid_header", "Idempotency-Key is longer than 255 characters", {"Idempotency-Key": "too long"}
        )
    row = (
        db()
        .execute(
            "SELECT request, status, response FROM idempotency_keys WHERE project_id = %s AND key = %s",
            (principal().project_id, key),
        )
        .fetchone()
    )
    if row is None:
        return None
    if row["request"] != _fingerprint():
        raise ApiError(
            409,
            "idempotency_conflict",
            "this Idempotency-Key was used for a different request",
            {"Idempotency-Key": "reused with another method, path or body"},
        )
    return jsonify(row["response"]), row["status"]


DRY_RUN = one_of("true: answer the plan the change would make, and change nothing", ("true", "false"))


def choice_arg(name: str, choices: Iterable[str], default: str | None = None) -> str | None:
    """A query parameter that must be one of `choices` (400 naming them otherwise); `default` when absent."""
    value = request.args.get(name, default)
    allowed = list(choices)
    if value is not None and value not in allowed:
        said = " or ".join(allowed) if len(allowed) == 2 else f"one of {', '.join(allowed)}"
        raise ApiError(400, "invalid_parameter", f"{name} must be {said}", {name: f"not {said}"})
    return value


def dry_run_arg() -> bool:
    """The `dryRun` query parameter (DRY_RUN)."""
    return choice_arg("dryRun", ("true", "false"), "false") == "true"


def int_arg(name: str, default: int, low: int, high: int, raw: str | None = None) -> int:
    value = request.args.get(name) if raw is None else raw
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be an integer", {name: "not an integer"}) from None
    if not low <= number <= high:
        raise ApiError(400, "invalid_parameter", f"{name} must be between {low} and {high}", {name: "out of range"})
    return number
