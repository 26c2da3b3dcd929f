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
