"""Schemas of the images a project's clusters were given."""

from __future__ import annotations

from marshmallow import fields

from strata_api.schemas import Response


class ImageView(Response):
    imageId = fields.String(required=True)
    cloudAccount = fields.String(required=True)
    cloud = fields.String(required=True)
    region = fields.String(required=True)
    signature = fields.String(required=True)
    source = fields.String(required=True, metadata={"description": "catalog, copied or built"})
    state = fields.String(required=True)
    pack = fields.String(required=True)
    packVersion = fields.String(required=True)
    kubernetesVersion = fields.String(allow_none=True, required=True)
    clusters = fields.List(fields.String(), required=True, metadata={"description": "names of clusters using it"})
    createdAt = fields.DateTime(required=True)


class ImageList(Response):
    items = fields.List(fields.Nested(ImageView), required=True)


class ScannedRule(Response):
    id = fields.String(required=True, metadata={"description": "the SCAP Security Guide rule id"})
    title = fields.String(required=True)
    severity = fields.String(required=True)
    result = fields.String(required=True, metadata={"description": "pass, fail, notapplicable, notchecked, ..."})


class ImageScanView(Response):
    image = fields.String(required=True)
    signature = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "scanned or not-scanned (reason says why)"})
    reason = fields.String(required=True, allow_none=True)
    benchmark = fields.String(required=True, allow_none=True)
    profile = fields.String(required=True, allow_none=True)
    score = fields.Float(required=True, allow_none=True, metadata={"description": "XCCDF default score, 0-100"})
    totals = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    seconds = fields.Float(required=True, allow_none=True, metadata={"description": "the evaluation's time"})
    scannedAt = fields.String(required=True, allow_none=True)
    rules = fields.List(fields.Nested(ScannedRule), required=True)
