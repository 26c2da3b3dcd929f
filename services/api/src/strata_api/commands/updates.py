"""A cluster's update notifications: what each changes (layers, values, nodes the planner would replace),
the conflicts of the profile's values changes with the cluster's overrides, their resolutions, and the
apply that moves the cluster to the offered revision with its overrides rebased on it."""

from __future__ import annotations

from functools import cached_property
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from strata_api.commands import Work, invalid
from strata_api.commands.clusters import changeable, check_change, plan_change
from strata_api.commands.offers import offer_updates
from strata_api.errors import ApiError
from strata_api.queries.clusters import own_cluster
from strata_api.queries.profiles import revision
from strata_common.db.queries import machines
from strata_common.db.types import DbConnection
from strata_common.engine.events import append_event
from strata_common.model.cluster import ClusterSpec, Layer
from strata_common.packs.updates import TAKE, VALUE, Conflict, layers_diff, override_conflicts, rebased, refusal
from strata_common.packs.values import defaults_reader
from strata_common.planner import plan_cluster


def _layers(conn: DbConnection, profile_id: UUID, number: int) -> list[Layer]:
    row = revision(conn, profile_id, number)
    return [Layer.from_json(layer) for layer in row["layers"]] if row else []


def _update_row(conn: DbConnection, cluster_id: UUID, number: int, lock: bool = False) -> dict[str, Any]:
    row = conn.execute(
        f"SELECT * FROM cluster_updates WHERE cluster_id = %s AND number = %s{' FOR UPDATE' if lock else ''}",
        (cluster_id, number),
    ).fetchone()
    if row is None:
        raise ApiError(404, "not_found", f"the cluster has no update {number}")
    return row


class _Update:
    """One notification worked out against the cluster as it stands."""

    def __init__(self, conn: DbConnection, cluster: dict[str, Any], row: dict[str, Any]):
        self.conn, self.cluster, self.row = conn, cluster, row
        self.spec = ClusterSpec.from_json(cluster["spec"])
        self.old = _layers(conn, row["profile_id"], row["from_revision"])
        self.new = _layers(conn, row["profile_id"], row["to_revision"])
        self.defaults = defaults_reader(conn)

    def target(self) -> ClusterSpec:
        return self.spec.for_revision(str(self.row["profile_id"]), self.row["to_revision"], tuple(self.new))

    def replaced_nodes(self) -> int:
        """How many nodes the planner would replace to move the cluster to the offered revision."""
        return len(plan_cluster(self.target(), machines.machines(self.conn, self.cluster["id"])).retire)

    @cached_property
    def conflicts(self) -> list[Conflict]:
        return override_conflicts(self.old, self.new, self.spec.overrides, self.defaults)

    def shown_conflicts(self) -> list[dict[str, Any]]:
        return [{**c.to_json(), "resolution": self.row["resolutions"].get(c.key)} for c in self.conflicts]

    def view(self) -> dict[str, Any]:
        """A pending notification worked out against the cluster as it stands; a closed one as its apply
        recorded it (nodes and conflicts unknown for one superseded, or applied by a PATCH)."""
        row = self.row
        outcome = row["outcome"] or {}
        nodes, shown = outcome.get("replacedNodes"), outcome.get("conflicts", [])
        if row["status"] == "pending":
            nodes, shown = self.replaced_nodes(), self.shown_conflicts()
        return {
            "number": row["number"],
            "status": row["status"],
            "profile": {
                "id": str(row["profile_id"]),
                "fromRevision": row["from_revision"],
                "toRevision": row["to_revision"],
            },
            "changes": [change.to_json() for change in layers_diff(self.old, self.new, self.defaults, nodes != 0)],
            "replacesNodes": nodes,
            "conflicts": shown,
            "unresolved": sum(1 for c in shown if c["resolution"] is None),
            "appliedGeneration": outcome.get("generation"),
            "createdAt": row["created_at"].isoformat(),
            "closedAt": row["closed_at"].isoformat() if row["closed_at"] else None,
        }


def list_updates(conn: DbConnection, project_id: UUID, cluster_id: str) -> list[dict[str, Any]]:
    """The cluster's notifications, newest first; what changes and conflicts is worked out for the pending one."""
    cluster = own_cluster(conn, project_id, cluster_id)
    rows = conn.execute(
        "SELECT * FROM cluster_updates WHERE cluster_id = %s ORDER BY number DESC", (cluster["id"],)
    ).fetchall()
    return [_Update(conn, cluster, row).view() for row in rows]


def show_update(conn: DbConnection, project_id: UUID, cluster_id: str, number: int) -> dict[str, Any]:
    cluster = own_cluster(conn, project_id, cluster_id)
    return _Update(conn, cluster, _update_row(conn, cluster["id"], number)).view()


def _pending(work: Work, cluster_id: str, number: int) -> _Update:
    cluster, _ = changeable(work, cluster_id)
    row = _update_row(work.conn, cluster["id"], number, lock=True)
    if row["status"] != "pending":
        raise ApiError(409, "conflict", f"update {number} is {row['status']}: only the pending update applies",
                       {"status": row["status"]})  # fmt: skip
    return _Update(work.conn, cluster, row)


def resolve(work: Work, cluster_id: str, number: int, resolutions: list[dict[str, Any]]) -> dict[str, Any]:
    """Store how conflicts are resolved (each names a current conflict by pack and path)."""
    update = _pending(work, cluster_id, number)
    current = {c.key: c for c in update.conflicts}
    new = {layer.pack for layer in update.new}
    stored = dict(update.row["resolutions"])
    problems = {}
    for i, item in enumerate(resolutions):
        key = f"{item['pack']}:{item['path']}"
        if key not in current:
            problems[f"resolutions.{i}"] = f"{key} is not a conflict of update {number}"
        elif item["pack"] not in new and item["action"] != TAKE:
            problems[f"resolutions.{i}.action"] = f"update {number} removes {item['pack']}: only {TAKE} resolves it"
        elif item["action"] == VALUE and "value" not in item:
            problems[f"resolutions.{i}.value"] = "the value to keep is missing"
        else:
            stored[key] = {"action": item["action"], **({"value": item["value"]} if item["action"] == VALUE else {})}
    invalid(problems)
    stored = {key: value for key, value in stored.items() if key in current}
    work.conn.execute(
        "UPDATE cluster_updates SET resolutions = %s WHERE cluster_id = %s AND number = %s",
        (Jsonb(stored), update.cluster["id"], number),
    )
    update.row = {**update.row, "resolutions": stored}
    return update.view()


def apply(work: Work, cluster_id: str, number: int) -> dict[str, Any]:
    """Move the cluster to the offered revision (a new generation, as a PATCH of its profile would), with its
    overrides rebased: 409 listing every conflict that is not resolved yet."""
    update = _pending(work, cluster_id, number)
    found = update.conflicts
    resolutions = update.row["resolutions"]
    unresolved = [c for c in found if c.key not in resolutions]
    if unresolved:
        raise ApiError(409, "unresolved_conflicts",
                       f"update {number} has {len(unresolved)} unresolved conflict(s): resolve each first",
                       refusal(unresolved))  # fmt: skip
    new_packs = {layer.pack for layer in update.new}
    overrides = {}
    for pack, override in update.spec.overrides.items():
        mine = [(c, resolutions[c.key]) for c in found if c.pack == pack]
        if pack in new_packs and (kept := rebased(override, mine)):
            overrides[pack] = kept
    spec = update.target().with_overrides(overrides)
    check_change(work, update.spec, spec)
    outcome = {"replacedNodes": update.replaced_nodes(), "conflicts": update.shown_conflicts()}
    plan_change(work, update.cluster, update.spec, spec)
    generation = work.conn.execute("SELECT generation FROM clusters WHERE id = %s", (update.cluster["id"],)).fetchone()
    work.conn.execute(
        "UPDATE cluster_updates SET outcome = %s WHERE cluster_id = %s AND number = %s",
        (Jsonb({**outcome, "generation": generation["generation"]}), update.cluster["id"], number),
    )
    offer_updates(work.conn, cluster_id=update.cluster["id"])
    append_event(work.conn, update.cluster["id"], "info", "api", "UpdateApplied",
                 f"update {number}: profile revision {update.row['from_revision']} -> {update.row['to_revision']}"
                 f"{f', {len(found)} conflict(s) resolved' if found else ''}",
                 {"update": number, "toRevision": update.row["to_revision"], "resolved": len(found)})  # fmt: skip
    return show_update(work.conn, work.project_id, cluster_id, number)


def fleet_updates(conn: DbConnection, project_id: UUID, profile: str | None, limit: int) -> list[dict[str, Any]]:
    """The project's pending notifications (of one profile's clusters if given), by cluster name."""
    rows = conn.execute(
        "SELECT c.id AS cluster_id, c.name, u.number, u.profile_id, u.from_revision, u.to_revision, u.created_at"
        " FROM cluster_updates u JOIN clusters c ON c.id = u.cluster_id"
        " WHERE c.project_id = %s AND c.deleted_at IS NULL AND u.status = 'pending'"
        " AND (%s::text IS NULL OR u.profile_id::text = %s) ORDER BY c.name LIMIT %s",
        (project_id, profile, profile, limit),
    ).fetchall()
    return [{"cluster": {"id": str(r["cluster_id"]), "name": r["name"]}, "number": r["number"],
             "profile": {"id": str(r["profile_id"]), "fromRevision": r["from_revision"],
                         "toRevision": r["to_revision"]},
             "createdAt": r["created_at"].isoformat()} for r in rows]  # fmt: skip
