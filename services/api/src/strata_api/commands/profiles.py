"""Profile commands: layers are resolved to packs and checked as a whole; every change is a new
immutable revision; a profile in use stays."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from strata_api.commands import Work
from strata_api.commands.offers import offer_updates
from strata_api.errors import ApiError
from strata_api.queries.profiles import own_profile, profile_in_use
from strata_common.db.queries import packs
from strata_common.packs.profiles import resolve_layers

STORED_KEYS = ("pack", "version", "layer", "packId", "digest", "values")


def _resolve(work: Work, layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    resolved, problems = resolve_layers(
        layers, lambda name, version: packs.find_visible(work.conn, work.project_id, name, version)
    )
    if problems:
        first = next(iter(problems.items()))
        raise ApiError(422, "invalid_profile", f"{first[0]}: {first[1]}", problems)
    return [{key: layer[key] for key in STORED_KEYS} for layer in resolved]


def create_profile(work: Work, data: dict[str, Any]) -> UUID:
    layers = _resolve(work, data["layers"])
    row = work.conn.execute(
        "INSERT INTO profiles (project_id, name, description) VALUES (%s, %s, %s)"
        " ON CONFLICT (project_id, name) DO NOTHING RETURNING id",
        (work.project_id, data["name"], data["description"]),
    ).fetchone()
    if row is None:
        raise ApiError(409, "conflict", f"a profile named {data['name']!r} exists", {"name": "already used"})
    work.conn.execute(
        "INSERT INTO profile_revisions (profile_id, revision, layers) VALUES (%s, 1, %s)", (row["id"], Jsonb(layers))
    )
    return row["id"]


def revise_profile(work: Work, profile_id: str, data: dict[str, Any]) -> UUID:
    profile = own_profile(work.conn, work.project_id, profile_id, lock=True)
    layers = _resolve(work, data["layers"])
    revision = profile["latest_revision"] + 1
    work.conn.execute(
        "INSERT INTO profile_revisions (profile_id, revision, layers) VALUES (%s, %s, %s)",
        (profile["id"], revision, Jsonb(layers)),
    )
    work.conn.execute(
        "UPDATE profiles SET latest_revision = %s, description = coalesce(%s, description), updated_at = now()"
        " WHERE id = %s",
        (revision, data.get("description"), profile["id"]),
    )
    offer_updates(work.conn, profile_id=profile["id"])
    return profile["id"]


def delete_profile(work: Work, profile_id: str) -> None:
    profile = own_profile(work.conn, work.project_id, profile_id, lock=True)
    if profile_in_use(work.conn, profile["id"]):
        raise ApiError(409, "in_use", "clusters use this profile; delete them first")
    work.conn.execute("DELETE FROM profiles WHERE id = %s", (profile["id"],))
