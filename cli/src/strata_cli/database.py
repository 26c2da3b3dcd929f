"""`strata db upgrade`: apply migrations, then sync the public pack registry shipped with Strata."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from strata_common.db.migrate import upgrade
from strata_common.packs.registry import sync_builtin


def prepare_database(database_url: str) -> str:
    """Bring the schema and the public packs up to date; return a one-line report."""
    applied = upgrade(database_url)
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        report = sync_builtin(conn)
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "none"
    failed = "; ".join(f"{f['pack']}: {f['reason']}" for f in report["failed"])
    line = (
        f"migrations applied: {names}; public packs: {len(report['loaded'])} loaded, "
        f"{len(report['unchanged'])} unchanged, {len(report['failed'])} failed"
    )
    return line + (f" ({failed})" if failed else "")
