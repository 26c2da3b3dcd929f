"""Cluster commands: create (checked against its profile revision, cloud account and the cloud's
catalog), change (profile revision, pools, pause), delete, and override a pack's values. Each writes
the typed spec with a new generation and plans, from the machines the cluster has, the steps that
make it so."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from strata_api.commands import Work, invalid
from strata_api.commands.offers import offer_updates
from strata_api.errors import ApiError
from strata_api.queries.accounts import own_account
from strata_api.queries.clusters import own_cluster, view
from strata_api.queries.profiles import own_profile, revision
from strata_common.clouds import registry
from strata_common.clouds.catalog import Catalog
from strata_common.db.queries import machines, packs
from strata_common.db.types import DbConnection
from strata_common.engine.events import append_event
from strata_common.engine.plan import bump_generation
from strata_common.model.cluster import CONTROL_PLANE, ClusterSpec, Layer, Management, Pool
from strata_common.packs.manifests import ManifestError
from strata_common.packs.profiles import node_minimums
from strata_common.packs.updates import override_conflicts, refusal
from strata_common.packs.values import defaults_reader, effective_values, pack_layer, render_objects
from strata_common.planner import PACK_CONDITIONS, plan_cluster, plan_override
from strata_common.plans import change


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
                       data["cloud"]["region"], pools, management=Management.from_json(data.get("management")),
                       )  # fmt: skip
    row = work.conn.execute(
        "INSERT INTO clusters (project_id, name, spec, phase, profile_id, profile_revision, cloud_account_id)"
        " VALUES (%s, %s, %s, 'Provisioning', %s, %s, %s)"
        " ON CONFLICT (project_id, name) WHERE deleted_at IS NULL DO NOTHING RETURNING *",
        (work.project_id, data["name"], Jsonb(spec.to_json()), profile_id, number, account["id"]),
    ).fetchone()
    if row is None:
        raise ApiError(409, "conflict", f"a cluster named {data['name']!r} exists", {"name": "already used"})
    work.plan(row["id"], row["generation"], plan_cluster(spec))
    if data["profile"].get("revision"):  # a chosen revision may be older than the latest
        offer_updates(work.conn, cluster_id=row["id"])
    return view(work.conn, row["id"])


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.lstrip("v").split(".")[:2]
    return int(major), int(minor)


def _upgrade_problems(current: ClusterSpec, wanted: ClusterSpec) -> dict[str, str]:
    """Kubernetes moves one minor version at a time and never down (kubeadm's version skew policy)."""
    old, new = _minor(current.kubernetes_version()), _minor(wanted.kubernetes_version())
    if new < old:
        return {"profile": f"Kubernetes {wanted.kubernetes_version()} is older than the cluster's "
                           f"{current.kubernetes_version()}: Kubernetes cannot be downgraded"}  # fmt: skip
    if new[0] != old[0] or new[1] > old[1] + 1:
        most = f"{old[0]}.{old[1] + 1}"
        return {"profile": f"Kubernetes {current.kubernetes_version()} moves one minor version at a time, to "
                           f"{most} at most (the profile has {wanted.kubernetes_version()})"}  # fmt: skip
    return {}


def _pool_problems(current: ClusterSpec, pools: tuple[Pool, ...]) -> dict[str, str]:
    """A pool keeps its role, and the control plane its pool (it is never removed)."""
    problems: dict[str, str] = {}
    roles = {pool.name: pool.role for pool in current.pools}
    for i, pool in enumerate(pools):
        if roles.get(pool.name, pool.role) != pool.role:
            problems[f"pools.{i}.role"] = f"pool {pool.name!r} is a {roles[pool.name]} pool; its role cannot change"
    control = next(pool.name for pool in current.pools if pool.role == CONTROL_PLANE)
    if control not in {pool.name for pool in pools}:
        problems["pools"] = f"the control-plane pool {control!r} cannot be removed or renamed"
    return problems


def changeable(work: Work, cluster_id: str) -> tuple[dict[str, Any], ClusterSpec]:
    row = own_cluster(work.conn, work.project_id, cluster_id, lock=True)
    if row["phase"] in ("Deleting", "Deleted"):
        raise ApiError(409, "conflict", "the cluster is being deleted", {"phase": row["phase"]})
    return row, ClusterSpec.from_json(row["spec"])


def update_cluster(work: Work, cluster_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Change the profile revision and/or the pools (a new generation, planned from the cluster's machines
    at once; nothing when nothing changes), and/or pause or resume the cluster."""
    row, current = changeable(work, cluster_id)
    spec = current
    if "profile" in data:
        spec = spec.for_revision(*_profile_revision(work, data["profile"]))
    if "pools" in data:
        pools = tuple(Pool.from_json(pool) for pool in data["pools"])
        account = own_account(work.conn, work.project_id, current.cloud_account)
        problems = _pool_problems(current, pools)
        problems.update(_placement_problems(account, current.region, pools))
        invalid(problems)
        spec = spec.with_pools(pools)
    if "management" in data:
        spec = spec.with_management(Management.from_json({**current.management.to_json(), **data["management"]}))
    check_change(work, current, spec)
    if spec.layers != current.layers:
        _refuse_override_conflicts(work, row, current, spec)
    if "paused" in data and data["paused"] != row["paused"]:
        _pause(work, row, data["paused"])
    plan_change(work, row, current, spec)
    if "profile" in data:
        offer_updates(work.conn, cluster_id=row["id"])
    return view(work.conn, row["id"])


def _refuse_override_conflicts(work: Work, row: dict[str, Any], current: ClusterSpec, spec: ClusterSpec) -> None:
    """409 if the new layers change values the cluster overrides: an update notification resolves them."""
    found = override_conflicts(list(current.layers), list(spec.layers), current.overrides, defaults_reader(work.conn))
    if found:
        raise ApiError(409, "unresolved_conflicts",
                       f"the profile revision changes {len(found)} value(s) cluster {row['name']!r} overrides: resolve "
                       "them in its update notification (GET /v1/clusters/{id}/updates), then apply it",
                       refusal(found))  # fmt: skip


def check_change(work: Work, current: ClusterSpec, spec: ClusterSpec) -> None:
    """422 if the cluster cannot move from `current` to `spec` (Kubernetes skew, the profile's packs)."""
    invalid({**_upgrade_problems(current, spec), **_profile_problems(work, spec.layers, spec.cloud_type, spec.pools)})


def plan_change(work: Work, row: dict[str, Any], current: ClusterSpec, spec: ClusterSpec) -> None:
    """A new generation planned from the cluster's machines, when `spec` differs from `current`."""
    if spec != current:
        machines.adopt(work.conn, row["id"], {pool.name: current.template_hash(pool) for pool in current.pools})
        work.ready += change(work.conn, row["id"], spec, work.settings.step_ready_grace)


def _pause(work: Work, row: dict[str, Any], paused: bool) -> None:
    """Paused, the cluster's steps and health checks wait (no cloud call); resumed, they are due at once."""
    work.conn.execute(
        "UPDATE clusters SET paused = %s,"
        " health_due_at = CASE WHEN NOT %s AND phase = 'Running' THEN now() END WHERE id = %s",
        (paused, paused, row["id"]),
    )
    if not paused:
        work.conn.execute(
            "UPDATE steps SET not_before = now(), wake_at = now() WHERE cluster_id = %s"
            " AND status IN ('ready', 'failed')",
            (row["id"],),
        )
    said = "paused: no step runs and no cloud call is made until it is resumed" if paused else "resumed"
    append_event(work.conn, row["id"], "info", "api", "ClusterPaused" if paused else "ClusterResumed",
                 f"cluster {row['name']} {said}")  # fmt: skip


def delete_cluster(work: Work, cluster_id: str, force: bool = False) -> dict[str, Any]:
    """Plan the delete; the cluster stays visible as Deleting until its resources are gone (twice is once).
    `force`, for a delete under way that cannot finish: one sweep, what it leaves is recorded, then gone."""
    row = own_cluster(work.conn, work.project_id, cluster_id, lock=True)
    current = ClusterSpec.from_json(row["spec"])
    if force and row["phase"] != "Deleting":
        raise ApiError(409, "conflict", f"cluster {row['name']!r} is not being deleted: delete it first; force only "
                       "ends a delete that cannot finish", {"force": "no delete under way"})  # fmt: skip
    if force and not current.force:
        generation = bump_generation(work.conn, row["id"], current.for_delete(force=True).to_json())
        work.plan(row["id"], generation, plan_cluster(current.for_delete(force=True)))
        append_event(work.conn, row["id"], "warning", "api", "ForceDelete",
                     f"cluster {row['name']}: force delete, one sweep then gone; what the cloud does not let Strata "
                     "delete is kept in GET /v1/leftovers")  # fmt: skip
    elif row["phase"] != "Deleting":
        spec = current.for_delete()
        generation = bump_generation(work.conn, row["id"], spec.to_json())
        work.conn.execute("UPDATE clusters SET phase = 'Deleting', paused = false, health_due_at = NULL WHERE id = %s",
                          (row["id"],))  # fmt: skip
        work.plan(row["id"], generation, plan_cluster(spec))
    return view(work.conn, row["id"])


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
    row, spec = changeable(work, cluster_id)
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
    plan = plan_override(spec, pack, row["phase"] == "Running", machines.machines(work.conn, row["id"]))
    work.plan(row["id"], generation, plan)
    changed = _paths(override) or ["(override removed)"]
    append_event(work.conn, row["id"], "info", "api", "ValuesOverridden",
                 f"{pack}: override of {', '.join(changed)} stored; generation {generation} applies it",
                 {"pack": pack, "paths": changed, "generation": generation})  # fmt: skip
    view["applying"] = {"generation": generation, "steps": plan.names}
    return view


def _paths(values: dict[str, Any], prefix: str = "") -> list[str]:
    return [p for k, v in values.items() for p in (_paths(v, f"{prefix}{k}.") if isinstance(v, dict) and v
                                                    else [f"{prefix}{k}"])]  # fmt: skip
