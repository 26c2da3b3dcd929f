"""A cluster's pack values: the effective values with the origin of each, and overrides that are
stored and applied at once."""

from __future__ import annotations

from typing import Any

import yaml
from flask import Blueprint, request

from strata_api.commands import clusters as commands
from strata_api.errors import ApiError
from strata_api.http import api, db, principal, reply, work
from strata_api.queries.clusters import own_cluster
from strata_api.schemas import PackValuesView
from strata_common import yamltext

bp = Blueprint("packvalues", __name__, url_prefix="/v1/clusters")


def _override_body() -> dict[str, Any]:
    """The request body as a values mapping: YAML or JSON (JSON is YAML)."""
    try:
        override = yamltext.load(request.get_data(as_text=True) or "{}")
    except yaml.YAMLError as err:
        raise ApiError(400, "invalid_body", "the body must be a YAML or JSON mapping of values",
                       {"values": f"not valid YAML or JSON: {err}"}) from None  # fmt: skip
    if override is None:
        override = {}
    if not isinstance(override, dict) or not all(isinstance(k, str) for k in override):
        raise ApiError(422, "invalid", "values must be a mapping with string keys", {"values": "not a mapping"})
    return override


@bp.get("/<cluster_id>/packs/<pack>/values")
@api("A pack's effective values in the cluster and where each comes from (pack, profile or override)",
     responses={200: PackValuesView, 404: None})  # fmt: skip
def get_values(cluster_id: str, pack: str):
    conn = db()
    row = own_cluster(conn, principal().project_id, cluster_id)
    view = commands.pack_values(conn, row, pack, (row["spec"].get("overrides") or {}).get(pack, {}))
    return reply(200, PackValuesView, view)


@bp.put("/<cluster_id>/packs/<pack>/values")
@api("Override a pack's values in the cluster (a YAML or JSON mapping; {} removes the override). The override is "
     "validated, stored and applied at once: 202 names the generation and steps that apply it", role="operator",
     responses={202: PackValuesView, 400: None, 404: None, 409: None, 422: None})  # fmt: skip
def put_values(cluster_id: str, pack: str):
    override = _override_body()
    with work() as unit:
        return reply(202, PackValuesView, commands.override_values(unit, cluster_id, pack, override))
