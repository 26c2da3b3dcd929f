"""The images clusters of this project were given: per cloud account and region, with signature,
source (catalog, copied, built), state and the clusters using them; and each image's CIS scan."""

from __future__ import annotations

from flask import Blueprint, request

from strata_api.http import api, choice_arg, db, one_of, principal, reply
from strata_api.queries import images
from strata_api.schemas.images import ImageList, ImageScanView
from strata_common.schemas.packs import CLOUDS

bp = Blueprint("images", __name__, url_prefix="/v1/images")


@bp.get("")
@api("Images known per cloud and region; filter by cloud or region", responses={200: ImageList},
     query={"cloud": one_of("the cloud", CLOUDS), "region": "region name"})  # fmt: skip
def list_images():
    items = images.list_images(db(), principal().project_id, request.args.get("cloud"), request.args.get("region"))
    return reply(200, ImageList, {"items": items})


SCAN_RESULTS = ("pass", "fail", "notapplicable", "notchecked", "error", "unknown", "informational", "fixed")


@bp.get("/<image>/scan")
@api("The image's CIS scan (OpenSCAP, SCAP Security Guide): totals, score and each rule's result",
     responses={200: ImageScanView, 404: None},
     query={"result": one_of("only rules with this result", SCAN_RESULTS)})  # fmt: skip
def image_scan(image: str):
    result = choice_arg("result", SCAN_RESULTS)
    return reply(200, ImageScanView, images.image_scan(db(), principal().project_id, image, result))
