"""Packs: a pack's definition by id, and a cluster spec's layer with its definition."""

from __future__ import annotations

from typing import Any

from strata_common.db.types import DbConnection, one


def definition(conn: DbConnection, pack_id: str) -> dict[str, Any]:
    """The definition of a pack a profile revision refers to (its foreign key guarantees the row)."""
    return one(conn.execute("SELECT definition FROM packs WHERE id = %s", (pack_id,)).fetchone())["definition"]


def definitions(conn: DbConnection, pack_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Definitions of several packs by id, in one query."""
    rows = conn.execute("SELECT id::text, definition FROM packs WHERE id = ANY(%s::uuid[])", (pack_ids,)).fetchall()
    return {row["id"]: row["definition"] for row in rows}


def find_visible(conn: DbConnection, project_id: Any, name: str, version: str) -> dict[str, Any] | None:
    """name@version among the project's registries first, then the public one."""
    return conn.execute(
        "SELECT p.id, p.name, p.version, p.layer, p.digest, p.definition FROM packs p"
        " JOIN registries r ON r.id = p.registry_id"
        " WHERE p.name = %s AND p.version = %s AND (r.project_id IS NULL OR r.project_id = %s)"
        " ORDER BY r.project_id NULLS LAST LIMIT 1",
        (name, version, project_id),
    ).fetchone()
