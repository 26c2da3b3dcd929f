"""Retention: what a deleted cluster leaves in the database (its steps, conditions, events, machines
and secrets, removed with its row by cascade) is kept STRATA_RETENTION_SECONDS after the delete
finished, then purged by beat's periodic purge task; so are expired idempotency keys."""

from __future__ import annotations

from strata_common.db.types import DbPool

BATCH = 200  # clusters per statement: a purge never holds many locks at once
IDEMPOTENCY_KEY_SECONDS = 86_400.0  # a client's retry comes within a day or not at all

PURGE_CLUSTERS = """
WITH old AS (
    SELECT id FROM clusters WHERE deleted_at < now() - make_interval(secs => %s)
    ORDER BY deleted_at LIMIT %s FOR UPDATE SKIP LOCKED
)
DELETE FROM clusters c USING old WHERE c.id = old.id
"""


def purge(pool: DbPool, retention: float) -> int:
    """Remove clusters deleted longer than `retention` seconds ago; how many."""
    total = 0
    while True:
        with pool.connection() as conn:
            purged = conn.execute(PURGE_CLUSTERS, (retention, BATCH)).rowcount
            conn.execute("DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => %s)",
                         (IDEMPOTENCY_KEY_SECONDS,))  # fmt: skip
        total += purged
        if purged < BATCH:
            return total
