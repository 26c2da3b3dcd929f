"""Private registry commands: add (a folder path or an http(s) URL), sync (invalid packs are reported,
the rest load), remove (refused while a profile revision uses its packs)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strata_api.commands import Work
from strata_api.errors import ApiError
from strata_api.queries.packs import own_registry, registry_in_use
from strata_common.packs.registry import RegistryError, sync


def create_registry(work: Work, data: dict[str, Any]) -> UUID:
    source = data["source"]
    row = work.conn.execute(
        "INSERT INTO registries (project_id, name, source) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
        (work.project_id, data["name"], source),
    ).fetchone()
    if row is None:
        raise ApiError(409, "conflict", f"a registry named {data['name']!r} exists", {"name": "already used"})
    return row["id"]


def sync_registry(work: Work, registry_id: str) -> dict[str, Any]:
    registry = own_registry(work.conn, work.project_id, registry_id)
    try:
        return sync(work.conn, registry["id"], registry["source"])
    except RegistryError as err:
        raise ApiError(422, "registry_unreadable", str(err), {"source": str(err)}) from None


def delete_registry(work: Work, registry_id: str) -> None:
    registry = own_registry(work.conn, work.project_id, registry_id)
    if registry_in_use(work.conn, registry["id"]):
        raise ApiError(409, "in_use", "a profile revision uses packs of this registry")
    work.conn.execute("DELETE FROM registries WHERE id = %s", (registry["id"],))
