"""Pack registries: an index (a folder or an http(s) URL) listing packs, synced into PostgreSQL.

index.json: {"name": "...", "packs": ["ubuntu-22.04/1.0.0", "custom-os-1.0.0.tar.gz", ...]}. Each
entry is relative to the index: a folder (folder registries only) or a .tar.gz of a pack folder.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit
from uuid import UUID

from psycopg.types.json import Jsonb

from strata_common.db.migrate import MIGRATION_LOCK_KEY
from strata_common.db.types import DbConnection, one
from strata_common.packs.loader import PackError, load_pack

BUILTIN_NAME = "public"
MAX_ARCHIVE_BYTES = 20 * 1024 * 1024


class RegistryError(ValueError):
    """The registry itself cannot be read (its index is missing or malformed)."""


def default_builtin_path() -> Path:
    """`packs/` of the Strata source tree this package is installed from."""
    return Path(__file__).resolve().parents[5] / "packs"


def is_url(source: str) -> bool:
    return urlsplit(source).scheme in ("http", "https")


def _fetch(url: str, limit: int) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        data = response.read(limit + 1)
    if len(data) > limit:
        raise RegistryError(f"{url} is larger than {limit} bytes")
    return data


def read_index(source: str) -> dict[str, Any]:
    try:
        text = (
            _fetch(urljoin(source.rstrip("/") + "/", "index.json"), 1024 * 1024)
            if is_url(source)
            else (Path(source) / "index.json").read_text()
        )
        index = json.loads(text)
    except (OSError, ValueError) as err:
        raise RegistryError(f"cannot read the registry index at {source}: {err}") from None
    if not isinstance(index, dict) or not isinstance(index.get("packs"), list):
        raise RegistryError(f"the registry index at {source} has no list 'packs'")
    return index


def _load_entry(source: str, entry: str, scratch: Path) -> dict[str, Any]:
    if not isinstance(entry, str) or entry.startswith("/") or ".." in Path(entry).parts:
        raise PackError(str(entry), "index entries must be relative paths inside the registry")
    if entry.endswith(".tar.gz"):
        if is_url(source):
            data = _fetch(urljoin(source.rstrip("/") + "/", entry), MAX_ARCHIVE_BYTES)
        else:
            data = (Path(source) / entry).read_bytes()
        target = scratch / entry.replace("/", "_")
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            archive.extractall(target, filter="data")
        folders = [p.parent for p in target.rglob("pack.json")]
        if len(folders) != 1:
            raise PackError(entry, "an archive must hold exactly one pack.json")
        return load_pack(folders[0])
    if is_url(source):
        raise PackError(entry, "packs of an http(s) registry must be .tar.gz archives")
    return load_pack(Path(source) / entry)


def load_registry(source: str) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """(valid packs, failures as {pack, reason}); one bad pack never stops the others."""
    index = read_index(source)
    packs: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="strata-registry-") as scratch:
        for entry in index["packs"]:
            try:
                packs.append(_load_entry(source, entry, Path(scratch)))
            except PackError as err:
                failures.append({"pack": err.pack, "reason": err.reason})
            except (OSError, tarfile.TarError) as err:
                failures.append({"pack": str(entry), "reason": f"cannot be read: {err}"})
    return packs, failures


def sync(conn: DbConnection, registry_id: UUID, source: str) -> dict[str, Any]:
    """Load the registry's packs into the database; report loaded, unchanged and failed packs.

    A published name@version is immutable: a changed content under the same version is refused.
    """
    packs, failures = load_registry(source)
    loaded, unchanged = [], []
    for pack in packs:
        label = f"{pack['name']}@{pack['version']}"
        existing = conn.execute(
            "SELECT digest FROM packs WHERE registry_id = %s AND name = %s AND version = %s",
            (registry_id, pack["name"], pack["version"]),
        ).fetchone()
        if existing and existing["digest"] == pack["digest"]:
            unchanged.append(label)
            continue
        if existing:
            failures.append({"pack": label, "reason": "content changed without a new version; publish a new version"})
            continue
        conn.execute(
            "INSERT INTO packs (registry_id, name, version, layer, digest, definition) VALUES (%s, %s, %s, %s, %s, %s)",
            (registry_id, pack["name"], pack["version"], pack["layer"], pack["digest"], Jsonb(pack)),
        )
        loaded.append(label)
    report = {"loaded": loaded, "unchanged": unchanged, "failed": failures}
    conn.execute(
        "UPDATE registries SET last_synced_at = now(), last_sync = %s WHERE id = %s", (Jsonb(report), registry_id)
    )
    return report


def sync_builtin(conn: DbConnection, source: Path | None = None) -> dict[str, Any]:
    """Create the public registry if needed and sync it from `source` (the shipped packs/).

    Holds the migrations' advisory lock until the caller commits, so concurrent runs serialize.
    """
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
    path = str(source or default_builtin_path())
    row = (
        conn.execute("SELECT id FROM registries WHERE project_id IS NULL AND name = %s", (BUILTIN_NAME,)).fetchone()
        or conn.execute(
            "INSERT INTO registries (project_id, name, source) VALUES (NULL, %s, %s) RETURNING id", (BUILTIN_NAME, path)
        ).fetchone()
    )
    registry_id = one(row)["id"]
    conn.execute("UPDATE registries SET source = %s WHERE id = %s", (path, registry_id))
    return sync(conn, registry_id, path)
