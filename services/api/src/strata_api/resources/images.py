"""The images clusters of this project were given: per cloud account and region, with signature,
source (catalog, copied, built), state and the clusters using them."""

from __future__ import annotations

from flask import Blueprint, request
from marshmallow import fields

from strata_api.http import api, db, principal, reply
from strata_api.schemas import Response

bp = Blueprint("images", __name__, url_prefix="/v1/images")


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


LIST = """
SELECT i.*, a.cloud, coalesce(array_agg(c.name ORDER BY c.name) FILTER (WHERE c.name IS NOT NULL), '{}') AS users
FROM images i
JOIN cloud_accounts a ON a.id = i.cloud_account_id AND a.project_id = %(project)s
LEFT JOIN clusters c ON c.cloud_account_id = i.cloud_account_id AND c.deleted_at IS NULL
    AND c.spec->'cloud'->>'region' = i.region
    AND EXISTS (SELECT 1 FROM steps s WHERE s.cluster_id = c.id AND s.generation = c.generation
                AND s.name = 'ensure_image' AND s.output->>'image' = i.image_id)
WHERE (%(cloud)s::text IS NULL OR a.cloud = %(cloud)s) AND (%(region)s::text IS NULL OR i.region = %(region)s)
GROUP BY i.cloud_account_id, i.region, i.image_id, a.cloud
ORDER BY a.cloud, i.region, i.created_at, i.image_id
"""


@bp.get("")
@api("Images known per cloud and region; filter by cloud or region", responses={200: ImageList},
     query={"cloud": "local, aws, azure or vsphere", "region": "region name"})  # fmt: skip
def list_images():
    rows = (
        db()
        .execute(
            LIST,
            {
                "project": principal().project_id,
                "cloud": request.args.get("cloud"),
                "region": request.args.get("region"),
            },
        )
        .fetchall()
    )
    items = [
        {"imageId": r["image_id"], "cloudAccount": str(r["cloud_account_id"]), "cloud": r["cloud"],
         "region": r["region"], "signature": r["signature"], "source": r["source"], "state": r["state"],
         "pack": r["pack_name"], "packVersion": r["pack_version"], "kubernetesVersion": r["kubernetes_version"],
         "clusters": r["users"], "createdAt": r["created_at"]}
        for r in rows
    ]  # fmt: skip
    return reply(200, ImageList, {"items": items})
