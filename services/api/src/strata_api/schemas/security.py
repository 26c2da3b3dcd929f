"""Schemas of tokens, projects and the audit log."""

from __future__ import annotations

from marshmallow import fields, validate

from strata_api.schemas import DNS_LABEL, ClusterRef, Request, Response
from strata_common.db.tokens import ROLES

TEN_YEARS = 10 * 365 * 24 * 3600


class TokenCreate(Request):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    expiresInSeconds = fields.Integer(validate=validate.Range(60, TEN_YEARS),
                                      metadata={"description": "none: the token does not expire"})  # fmt: skip


class TokenView(Response):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True)
    platformAdmin = fields.Boolean(required=True)
    createdAt = fields.DateTime(required=True)
    lastUsedAt = fields.DateTime(required=True, allow_none=True)
    expiresAt = fields.DateTime(required=True, allow_none=True)
    revokedAt = fields.DateTime(required=True, allow_none=True)


class TokenCreated(TokenView):
    token = fields.String(required=True, metadata={"description": "shown this once; Strata keeps only its hash"})


class TokenList(Response):
    items = fields.List(fields.Nested(TokenView), required=True)


class ProjectCreate(Request):
    name = fields.String(required=True, validate=DNS_LABEL)


class ProjectView(Response):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    createdAt = fields.DateTime(required=True)


class ProjectCreated(ProjectView):
    adminToken = fields.Nested(TokenCreated, required=True, metadata={"description": "the project's first admin"})


class ProjectList(Response):
    items = fields.List(fields.Nested(ProjectView), required=True)


class AuditEntry(Response):
    id = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    tokenId = fields.UUID(required=True)
    tokenName = fields.String(required=True)
    role = fields.String(required=True)
    method = fields.String(required=True)
    path = fields.String(required=True)
    resource = fields.String(required=True)
    resourceId = fields.String(required=True, allow_none=True)
    status = fields.Integer(required=True)
    remoteAddr = fields.String(required=True, allow_none=True)


class AuditPage(Response):
    items = fields.List(fields.Nested(AuditEntry), required=True)
    nextAfter = fields.Integer(required=True, metadata={"description": "pass as `after` for the next page"})


class Leftover(Response):
    cluster = fields.Nested(ClusterRef, required=True)
    cloudAccount = fields.UUID(required=True)
    cloud = fields.String(required=True)
    kind = fields.String(required=True)
    region = fields.String(required=True)
    id = fields.String(required=True, metadata={"description": "the cloud's id of the resource"})
    reason = fields.String(required=True, metadata={"description": "what the cloud answered"})
    recordedAt = fields.DateTime(required=True)


class LeftoverList(Response):
    items = fields.List(fields.Nested(Leftover), required=True)
