"""Beat's re-drive: publish steps that are due again (lost message, expired lease, backoff over)."""

from __future__ import annotations

import hashlib

from strata_common.db.types import DbPool, one
from strata_common.engine.publish import Publisher

REDRIVE_LOCK_KEY = int.from_bytes(hashlib.sha256(b"strata redrive").digest()[:8], "big") >> 1

# One indexed query (steps_wake_at). Pushing wake_at forward by the grace period in the same
# statement is what keeps a step from being published again before it has had a chance to run.
DUE_STEPS = """
WITH due AS (
    SELECT id FROM steps WHERE wake_at <= now()
    ORDER BY wake_at LIMIT %(batch)s FOR UPDATE SKIP LOCKED
)
UPDATE steps s SET wake_at = now() + make_interval(secs => %(grace)s), redrives = s.redrives + 1
FROM due WHERE s.id = due.id
RETURNING s.id, s.queue
"""


def redrive(pool: DbPool, publisher: Publisher, grace: float, batch: int = 500) -> int:
    """Publish every due step once; return how many. A concurrent re-drive makes this one a no-op."""
    total = 0
    while True:
        with pool.connection() as conn:
            locked = conn.execute("SELECT pg_try_advisory_xact_lock(%s) AS ok", (REDRIVE_LOCK_KEY,)).fetchone()
            if not one(locked)["ok"]:
                return total
            due = conn.execute(DUE_STEPS, {"batch": batch, "grace": grace}).fetchall()
        total += publisher.publish(due)
        if len(due) < batch:
            return total
