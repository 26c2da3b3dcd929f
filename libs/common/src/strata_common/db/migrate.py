"""Apply the numbered SQL migrations in order, once each, under an advisory lock.

The shared tables' migrations ship here; a package that owns tables of its own (the local cloud)
ships its migrations as a package named in the entry point group `strata.migrations`. Versions are
one sequence across all of them."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import entry_points

import psycopg

# pg_advisory_lock key: "strata migrations" as a stable 63-bit integer.
MIGRATION_LOCK_KEY = int.from_bytes(hashlib.sha256(b"strata migrations").digest()[:8], "big") >> 1

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    """The database's migration history disagrees with the files shipped."""


def migration_packages() -> list[str]:
    """strata_common's migrations package and those named in the `strata.migrations` entry points."""
    return ["strata_common.db.migrations", *sorted(e.value for e in entry_points(group="strata.migrations"))]


def available_migrations() -> list[Migration]:
    """Every migration file shipped in the migration packages, by version."""
    found = []
    for package in migration_packages():
        for entry in resources.files(package).iterdir():
            match = _NAME.match(entry.name)
            if match:
                found.append(Migration(int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version: {versions}")
    return found


def upgrade(database_url: str) -> list[Migration]:
    """Apply the migrations not yet recorded in schema_migrations; return those applied.

    Safe to run twice and from several processes at once: a session advisory lock serializes
    runners, and each migration commits together with its schema_migrations row.
    """
    applied_now: list[Migration] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY,"
                " name text NOT NULL,"
                " checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {
                version: checksum
                for version, checksum in conn.execute("SELECT version, checksum FROM schema_migrations")
            }
            for migration in available_migrations():
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.version:04d}_{migration.name} was changed after it "
                            "was applied; add a new migration instead"
                        )
                    continue
                with conn.transaction():
                    conn.execute(migration.sql)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                applied_now.append(migration)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    return applied_now
