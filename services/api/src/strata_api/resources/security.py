"""Tokens, projects, the audit log and the leftovers of force deletes through the API."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, request

from strata_api.auth import forget_token
from strata_api.commands import tokens
from strata_api.errors import ApiError
from strata_api.http import api, db, int_arg, integer, load_json, principal, reply
from strata_api.queries.audit import audit_page
from strata_api.queries.leftovers import leftovers
from strata_api.schemas.security import (
    AuditPage,
    LeftoverList,
    ProjectCreate,
    ProjectCreated,
    ProjectList,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenView,
)

bp = Blueprint("security", __name__, url_prefix="/v1")


@bp.post("/tokens")
@api("Issue a token of this project (shown once), up to the caller's role, optionally expiring", role="admin",
     request_schema=TokenCreate, responses={201: TokenCreated, 403: None, 422: None})  # fmt: skip
def create_token():
    return reply(201, TokenCreated, tokens.create_token(db(), principal(), load_json(TokenCreate())))


@bp.get("/tokens")
@api("The project's tokens (never their secret)", role="admin", responses={200: TokenList})
def list_tokens():
    return reply(200, TokenList, {"items": tokens.list_tokens(db(), principal().project_id)})


@bp.delete("/tokens/<token_id>")
@api("Revoke a token: it stops working at once here, within 10 seconds in every API process", role="admin",
     responses={200: TokenView, 404: None})  # fmt: skip
def revoke_token(token_id: str):
    revoked = tokens.revoke_token(db(), principal().project_id, token_id)
    forget_token(revoked["id"])
    return reply(200, TokenView, revoked)


@bp.post("/projects")
@api("Create a project with its first admin token (a platform admin's token only)", role="admin",
     request_schema=ProjectCreate, responses={201: ProjectCreated, 403: None, 409: None, 422: None})  # fmt: skip
def create_project():
    data = load_json(ProjectCreate())
    return reply(201, ProjectCreated, tokens.create_project(db(), principal(), data["name"]))


@bp.get("/projects")
@api("Projects: every one for a platform admin, the caller's own otherwise", responses={200: ProjectList})
def list_projects():
    return reply(200, ProjectList, {"items": tokens.list_projects(db(), principal())})


@bp.get("/audit")
@api("The project's audit log, oldest first: every write and kubeconfig download", role="admin",
     responses={200: AuditPage},
     query={"resource": "only this collection (clusters, profiles, tokens, ...)",
            "since": "ISO 8601 time: only records from then on",
            "after": integer("the last id already read", 0, 2**62),
            "limit": integer("page size", 1, 1000)})  # fmt: skip
def audit():
    since_text = request.args.get("since")
    try:
        since = datetime.fromisoformat(since_text) if since_text else None
    except ValueError:
        raise ApiError(400, "invalid_parameter", "since must be an ISO 8601 time", {"since": "not a time"}) from None
    after, limit = int_arg("after", 0, 0, 2**62), int_arg("limit", 100, 1, 1000)
    items = audit_page(db(), principal().project_id, request.args.get("resource"), since, after, limit)
    return reply(200, AuditPage, {"items": items, "nextAfter": items[-1]["id"] if items else after})


@bp.get("/leftovers")
@api("Resources force deletes left in the clouds (the cloud refused to delete or list them), newest first",
     responses={200: LeftoverList}, query={"cluster": "only those of this cluster id"})  # fmt: skip
def list_leftovers():
    return reply(200, LeftoverList, {"items": leftovers(db(), principal().project_id, request.args.get("cluster"))})
