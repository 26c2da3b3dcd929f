"""Schemas of the agent API (what a cluster's management agent reads and reports) and of its tokens."""

from __future__ import annotations

from marshmallow import fields, validate

from strata_api.schemas import Request, Response

PACK_STATES = ("applied", "progressing", "failed")


class DesiredPack(Response):
    pack = fields.String(required=True)
    version = fields.String(required=True)
    layer = fields.String(required=True, metadata={"description": "cni, csi or addon"})
    objects = fields.List(fields.Dict(), required=True, metadata={"description": "rendered with effective values"})


class Desired(Response):
    cluster = fields.UUID(required=True)
    generation = fields.Integer(required=True)
    packs = fields.List(fields.Nested(DesiredPack), required=True,
                        metadata={"description": "in the order to apply; a pack applied before and not listed is "
                                                 "to be pruned"})  # fmt: skip


class PackState(Request):
    pack = fields.String(required=True, validate=validate.Length(1, 253))
    state = fields.String(required=True, validate=validate.OneOf(PACK_STATES))
    message = fields.String(load_default="", validate=validate.Length(max=2000))


class NodeState(Request):
    name = fields.String(required=True, validate=validate.Length(1, 253))
    ready = fields.Boolean(required=True)


class AgentStatus(Request):
    generation = fields.Integer(required=True, validate=validate.Range(min=0),
                                metadata={"description": "the generation the agent applied"})  # fmt: skip
    packs = fields.List(fields.Nested(PackState), load_default=list)
    nodes = fields.List(fields.Nested(NodeState), load_default=list)
    drift = fields.List(fields.String(validate=validate.Length(max=500)), load_default=list,
                        metadata={"description": "objects applied again since the last report"})  # fmt: skip


class AgentToken(Response):
    token = fields.String(required=True, metadata={"description": "shown once"})
    expiresAt = fields.DateTime(required=True)
