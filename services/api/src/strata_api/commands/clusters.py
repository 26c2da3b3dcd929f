"""Cluster commands: create (checked against its profile revision, cloud account and the cloud's
catalog), move to another profile revision, delete, and override a pack's values. Each writes the
typed spec with a new generation and plans the steps that make it so."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from strata_api.commands import Work, invalid
from strata_api.errors import ApiError
from strata_api.queries.accounts import own_account
from strata_api.queries.clusters import own_cluster, with_conditions
from strata_api.queries.profiles import own_profile, revision
from strata_common.clouds import registry
from strata_common.clouds.catalog import Catalog
from strata_common.db.queries import packs
from strata_common.db.types import DbConnection
from strata_common.engine.events import append_event
from strata_common.engine.plan import bump_generation
from strata_common.model.cluster import ClusterSpec, Layer, Pool
from strata_common.packs.manifests import ManifestError
from strata_common.packs.profiles import node_minimums
from strata_common.packs.values import effective_values, pack_layer, render_objects
from strata_common.planner import PACK_CONDITIONS, plan_cluster, plan_override


def _catalog(cloud: str) -> Catalog:
    found = registry.catalog(cloud)
    if found is None:  # the account schema admits only clouds with a catalog
        raise ApiError(422, "invalid", f"cloud {cloud!r} is not supported", {"cloudAccount": "unsupported cloud"})
    return found


def _placement_problems(account: dict[str, Any], region: str, pools: tuple[Pool, ...]) -> dict[str, str]:
    cloud, catalog = account["cloud"], _catalog(account["cloud"])
    problems: dict[str, str] = {}
    zones: list[str] | None
    if cloud == "vsphere":
        if region != account["config"]["datacenter"]:
            problems["cloud.region"] = f"the account's datacenter is {account['config']['datacenter']!r}"
        zones = account["config"].get("faultDomains")
    elif region not in catalog.regions:
        problems["cloud.region"] = f"unknown {cloud} region {region!r}; known: {', '.join(sorted(catalog.regions))}"
        zones = None
    else:
        zones = catalog.regions[region]
    for i, pool in enumerate(pools):
        if zones is not None:
            for j, zone in enumerate(pool.zones):
                if zone not in zones:
                    problems[f"pools.{i}.zones.{j}"] = f"zone {zone!r} is not in region {region!r}"
        if len(set(pool.zones)) != len(pool.zones):
            problems[f"pools.{i}.zones"] = "a zone is listed twice"
        if pool.instance_type not in catalog.instance_types:
            problems[f"pools.{i}.instanceType"] = (
                f"unknown {cloud} instance type {pool.instance_type!r}; known: {', '.join(catalog.instance_types)}"
            )
    return problems


def _profile_problems(work: Work, layers: tuple[Layer, ...], cloud: str, pools: tuple[Pool, ...]) -> dict[str, str]:
    problems: dict[str, str] = {}
    definitions = packs.definitions(work.conn, [layer.pack_id for layer in layers])
    for layer in layers:
        if cloud not in definitions[layer.pack_id]["cloudTypes"]:
            problems["cloudAccount"] = f"pack {layer.pack}@{layer.version} does not support cloud {cloud!r}"
    minimums = node_minimums([{**layer.to_json(), "definition": definitions[layer.pack_id]} for layer in layers])
    types = _catalog(cloud).instance_types
    for i, pool in enumerate(pools):
        size = types.get(pool.instance_type)
        if size is None:
            continue
        have = {"minCpu": size.cpu, "minMemoryMiB": size.memory_mib, "minDiskGiB": pool.disk_gib}
        for key, unit in (("minCpu", "vCPU"), ("minMemoryMiB", "MiB of memory"), ("minDiskGiB", "GiB of disk")):
            if key in minimums and have[key] < minimums[key][0]:
                field = "diskGiB" if key == "minDiskGiB" else "instanceType"
                problems[f"pools.{i}.{field}"] = (
                    f"pack {minimums[key][1]} needs at least {minimums[key][0]} {unit} per node; "
                    f"pool {pool.name} has {have[key]}"
                )
    return problems


def _profile_revision(work: Work, ref: dict[str, Any]) -> tuple[str, int, tuple[Layer, ...]]:
    """(profile id, revision number, its layers) of a {id, revision?} reference; the latest by default."""
    profile = own_profile(work.conn, work.project_id, ref["id"])
    number = ref.get("revision") or profile["latest_revision"]
    row = revision(work.conn, profile["id"], number)
    if row is None:
        raise ApiError(422, "invalid", f"profile has no revision {number}", {"profile.revision": "does not exist"})
    return str(profile["id"]), number, tuple(Layer.from_json(layer) for layer in row["layers"])


def create_cluster(work: Work, data: dict[str, Any]) -> dict[str, Any]:
    profile_id, number, layers = _profile_revision(work, data["profile"])
    try:
        account = own_account(work.conn, work.project_id, data["cloudAccount"])
    except ApiError:
        raise ApiError(422, "invalid", "no such cloud account in this project", {"cloudAccount": "not found"}) from None
    if account["cloud"] not in registry.plugins():  # accepted, it would only retry forever
        invalid({"cloudAccount": f"no driver for the {account['cloud']} cloud is installed in this Strata"})
    pools = tuple(Pool.from_json(pool) for pool in data["pools"])
    problems = _placement_problems(account, data["cloud"]["region"], pools)
    problems.update(_profile_problems(work, layers, account["cloud"], pools))
    invalid(problems)
    spec = ClusterSpec(data["name"], profile_id, number, layers, str(account["id"]), account["cloud"],
                       data["cloud"]["region"], pools)  # fmt: skip
    row = work.conn.execute(
        "INSERT INTO clusters (project_id, name, spec, phase, profile_id, profile_revision, cloud_account_id)"
        " VALUES (%s, %s, %s, 'Provisioning', %s, %s, %s)"
        " ON CONFLICT (project_id, name) WHERE deleted_at IS NULL DO NOTHING RETURNING *",
        (work.project_id, data["name"], Jsonb(spec.to_json()), profile_id, number, account["id"]),
    ).fetchone()
    if row is None:
        raise ApiError(409, "conflict", f"a cluster named {data['name']!r} exists", {"name": "already used"})
    work.plan(row["id"], row["generation"], plan_cluster(spec))
    return with_conditions(work.conn, row["id"])


def _changeable(work: Work, cluster_id: str) -> tuple[dict[str, Any], ClusterSpec]:
    row = own_cluster(work.conn, work.project_id, cluster_id, lock=True)
    if row["phase"] in ("Deleting", "Deleted"):
        raise ApiError(409, "conflict", "the cluster is being deleted", {"phase": row["phase"]})
    return row, ClusterSpec.from_json(row["spec"])


def change_revision(work: Work, cluster_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Move the cluster to another profile revision: a new generation, planned at once (nothing if it is the same)."""
    row, current = _changeable(work, cluster_id)
    profile_id, number, layers = _profile_revision(work, data["profile"])
    invalid(_profile_problems(work, layers, current.cloud_type, current.pools))
    if (profile_id, number) != (current.profile_id, current.profile_revision):
        spec = current.for_revision(profile_id, number, layers)
        generation = bump_generation(work.conn, row["id"], spec.to_json())
        work.conn.execute(
            "UPDATE clusters SET profile_id = %s, profile_revision = %s WHERE id = %s", (profile_id, number, row["id"])
        )
        work.plan(row["id"], generation, plan_cluster(spec))
    return with_conditions(work.conn, row["id"])


def delete_cluster(work: Work, cluster_id: str) -> dict[str, Any]:
    """Plan the delete; the cluster stays visible as Deleting until its resources are gone (twice is once)."""
    row = own_cluster(work.conn, work.project_id, cluster_id, lock=True)
    if row["phase"] != "Deleting":
        spec = ClusterSpec.from_json(row["spec"]).for_delete()
        generation = bump_generation(work.conn, row["id"], spec.to_json())
        work.conn.execute("UPDATE clusters SET phase = 'Deleting' WHERE id = %s", (row["id"],))
        work.plan(row["id"], generation, plan_cluster(spec))
    return with_conditions(work.conn, row["id"])


def pack_values(conn: DbConnection, row: dict[str, Any], pack: str, override: dict[str, Any]) -> dict[str, Any]:
    """The view of a cluster's pack values with `override`; 404 if its profile has no such cni, csi or add-on."""
    found = pack_layer(conn, ClusterSpec.from_json(row["spec"]), pack)
    if found is None or found[0].layer not in PACK_CONDITIONS:
        raise ApiError(404, "not_found", f"cluster {row['name']!r} has no cni, csi or add-on pack {pack!r}")
    layer, definition = found
    values, origins = effective_values(definition, layer.values, override)
    return {"pack": layer.pack, "version": layer.version, "layer": layer.layer, "values": values,
            "origins": origins, "override": override, "applying": None, "definition": definition}  # fmt: skip


def override_values(work: Work, cluster_id: str, pack: str, override: dict[str, Any]) -> dict[str, Any]:
    """Check that the pack still renders with `override`, store it ({} removes it) and apply it at once."""
    row, spec = _changeable(work, cluster_id)
    view = pack_values(work.conn, row, pack, override)
    try:
        render_objects(view.pop("definition"), view["values"])
    except (ManifestError, ValueError, TypeError, AttributeError, KeyError) as err:
        # a value of the wrong shape can break a manifest anywhere: whatever breaks, the values are invalid
        raise ApiError(422, "invalid", f"values: {err}", {"values": str(err) or type(err).__name__}) from None
    overrides = {**spec.overrides, pack: override}
    if not override:
        overrides.pop(pack)
    spec = spec.with_overrides(overrides)
    generation = bump_generation(work.conn, row["id"], spec.to_json())
    plan = plan_override(spec, pack, running=row["phase"] == "Running")
    work.plan(row["id"], generation, plan)
    changed = _paths(override) or ["(override removed)"]
    append_event(work.conn, row["id"], "info", "api", "ValuesOverridden",
                 f"{pack}: override of {', '.join(changed)} stored; generation {generation} applies it",
                 {"pack": pack, "paths": changed, "generation": generation})  # fmt: skip
    view["applying"] = {"generation": generation, "steps": [s.name for s in plan]}
    return view


def _paths(values: dict[str, Any], prefix: str = "") -> list[str]:
    return [p for k, v in values.items() for p in (_paths(v, f"{prefix}{k}.") if isinstance(v, dict) and v
                                                    else [f"{prefix}{k}"])]  # fmt: skip
