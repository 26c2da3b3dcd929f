"""Schemas of the local cloud's administration: faults, quotas, throttling."""

from __future__ import annotations

from marshmallow import fields, validate

from strata_api.schemas import Request, Response
from strata_common.clouds import registry
from strata_common.schemas import Pattern

ADMIN = registry.plugin("local").admin()
ACTIONS = ADMIN.ACTIONS


class FaultCreate(Request):
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    code = fields.String(required=True, validate=Pattern(r"^[A-Za-z][A-Za-z0-9.]{1,63}$"))
    message = fields.String(load_default="injected fault", validate=validate.Length(max=ADMIN.FAULT_MESSAGE_MAX))
    count = fields.Integer(load_default=1, validate=validate.Range(min=1, max=ADMIN.FAULT_COUNT_MAX),
                           metadata={"description": "how many of the action's next calls fail"})  # fmt: skip


class FaultView(Response):
    id = fields.Integer(required=True)
    action = fields.String(required=True)
    code = fields.String(required=True)
    message = fields.String(required=True)
    remaining = fields.Integer(required=True)


class FaultList(Response):
    items = fields.List(fields.Nested(FaultView), required=True)


class FaultsCleared(Response):
    removed = fields.Integer(required=True, metadata={"description": "faults that were still waiting to fire"})


class QuotaUpdate(Request):
    vcpus = fields.Integer(required=True, validate=validate.Range(min=0, max=1_000_000))


class RegionView(Response):
    name = fields.String(required=True)
    vcpuQuota = fields.Integer(required=True)
    vcpusUsed = fields.Integer(required=True)


class RegionList(Response):
    items = fields.List(fields.Nested(RegionView), required=True)


class ThrottlingUpdate(Request):
    rate = fields.Float(
        required=True,
        validate=validate.Range(min=0, max=ADMIN.RATE_MAX),
        metadata={"description": "calls per second refilled; 0 turns throttling off"},
    )
    burst = fields.Float(required=True, validate=validate.Range(min=1, max=ADMIN.BURST_MAX),
                         metadata={"description": "calls that may be made at once"})  # fmt: skip


class ThrottlingView(Response):
    action = fields.String(required=True)
    rate = fields.Float(required=True)
    burst = fields.Float(required=True)
    calls = fields.Integer(metadata={"description": "calls of this action the local cloud has answered"})


class ThrottlingList(Response):
    items = fields.List(fields.Nested(ThrottlingView), required=True)
