"""A cluster's pack values: the effective values with the origin of each, and overrides that are
stored and applied at once."""

from __future__ import annotations

from typing import Any

import yaml
from flask import Blueprint, current_app, request
from psycopg import Connection

from strata_api.errors import ApiError
from strata_api.http import api, db, reply, transaction
from strata_api.resources.clusters import own_cluster
from strata_api.schemas import PackValuesView
from strata_common import yamltext
from strata_common.engine.events import append_event
from strata_common.engine.plan import bump_generation, submit_plan
from strata_common.packs.manifests import ManifestError
from strata_common.packs.values import effective_values, pack_layer, render_objects
from strata_common.planner import PACK_CONDITIONS, plan_override

bp = Blueprint("packvalues", __name__, url_prefix="/v1/clusters")


def _layer(conn: Connection, row: dict[str, Any], pack: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(layer entry, pack definition) of a cluster's pack layer; 404 if the profile has none by that name."""
    found = pack_layer(conn, row["spec"], pack)
    if found is None or found[0]["layer"] not in PACK_CONDITIONS:
        raise ApiError(404, "not_found", f"cluster {row['name']!r} has no cni, csi or add-on pack {pack!r}")
    return found


def _view(entry: dict[str, Any], definition: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    values, origins = effective_values(definition, entry.get("values") or "", override)
    return {"pack": entry["pack"], "version": entry["version"], "layer": entry["layer"], "values": values,
            "origins": origins, "override": override, "applying": None}  # fmt: skip


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


def _paths(values: dict[str, Any], prefix: str = "") -> list[str]:
    return [p for k, v in values.items() for p in (_paths(v, f"{prefix}{k}.") if isinstance(v, dict) and v
                                                    else [f"{prefix}{k}"])]  # fmt: skip


@bp.get("/<cluster_id>/packs/<pack>/values")
@api("A pack's effective values in the cluster and where each comes from (pack, profile or override)",
     responses={200: PackValuesView, 404: None})  # fmt: skip
def get_values(cluster_id: str, pack: str):
    conn = db()
    row = own_cluster(conn, cluster_id)
    entry, definition = _layer(conn, row, pack)
    return reply(200, PackValuesView, _view(entry, definition, (row["spec"].get("overrides") or {}).get(pack, {})))


@bp.put("/<cluster_id>/packs/<pack>/values")
@api("Override a pack's values in the cluster (a YAML or JSON mapping; {} removes the override). The override is "
     "validated, stored and applied at once: 202 names the generation and steps that apply it", role="operator",
     responses={202: PackValuesView, 400: None, 404: None, 409: None, 422: None})  # fmt: skip
def put_values(cluster_id: str, pack: str):
    override = _override_body()
    settings = current_app.config["STRATA_SETTINGS"]
    with transaction() as conn:
        row = own_cluster(conn, cluster_id, lock=True)
        if row["phase"] in ("Deleting", "Deleted"):
            raise ApiError(409, "conflict", "the cluster is being deleted", {"phase": row["phase"]})
        entry, definition = _layer(conn, row, pack)
        view = _view(entry, definition, override)
        try:
            render_objects(definition, view["values"])
        except (ManifestError, ValueError, TypeError, AttributeError, KeyError) as err:
            # a value of the wrong shape can break a manifest anywhere: whatever breaks, the values are invalid
            raise ApiError(422, "invalid", f"values: {err}", {"values": str(err) or type(err).__name__}) from None
        overrides = {**(row["spec"].get("overrides") or {}), pack: override}
        if not override:
            overrides.pop(pack)
        spec = {**row["spec"], "overrides": overrides}
        generation = bump_generation(conn, row["id"], spec)
        plan = plan_override(spec, pack, running=row["phase"] == "Running")
        ready = submit_plan(conn, row["id"], generation, plan, settings.step_ready_grace)
        changed = _paths(override) or ["(override removed)"]
        append_event(conn, row["id"], "info", "api", "ValuesOverridden",
                     f"{pack}: override of {', '.join(changed)} stored; generation {generation} applies it",
                     {"pack": pack, "paths": changed, "generation": generation})  # fmt: skip
        view["applying"] = {"generation": generation, "steps": [s.name for s in plan]}
        response = reply(202, PackValuesView, view)
    current_app.extensions["strata_publisher"].publish(ready)
    return response
