"""Beat's re-drive: publish steps that are due again (lost message, expired lease, dead owner, backoff over)."""

from __future__ import annotations

import hashlib

from strata_common.db.types import DbPool, one
from strata_common.engine.liveness import ORPHANED_STEPS, OWNER_CLASS, RESTART_GRACE
from strata_common.engine.publish import Publisher
from strata_common.metrics.engine import LEASE_EXPIRIES, REDRIVE_DUE, REDRIVE_PASSES, REDRIVE_PUBLISHED
from strata_common.queues import DRIFT_TASK, HEALTH_TASK

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
RETURNING s.id, s.queue, s.status = 'running' AS expired
"""


CHECK_BATCH = 100  # clusters per check message: one cloud listing for them all (EC2 takes 200 filter values)

# Clusters whose health check is due (health_due_at is set only while a cluster is Running and not
# paused); the next one is pushed an interval ahead, the check itself sets it again when it is done.
# At a health check, the add-ons' drift is checked too when the drift interval has passed since the last.
DUE_HEALTH_CHECKS = """
WITH due AS (
    SELECT id, drift_checked_at IS NULL OR drift_checked_at <= now() - make_interval(secs => %(drift)s) AS drift
    FROM clusters WHERE health_due_at <= now()
    ORDER BY health_due_at LIMIT %(batch)s FOR UPDATE SKIP LOCKED
)
UPDATE clusters c SET health_due_at = now() + make_interval(secs => %(interval)s),
       drift_checked_at = CASE WHEN due.drift THEN now() ELSE c.drift_checked_at END
FROM due WHERE c.id = due.id
RETURNING c.id, due.drift
"""


def redrive(pool: DbPool, publisher: Publisher, grace: float, batch: int = 500, health_interval: float = 60.0,
            drift_interval: float = 600.0) -> int:  # fmt: skip
    """Publish every due step and due health check once; return how many. A concurrent re-drive makes
    this one a no-op."""
    total = due_steps = 0
    while True:
        with pool.connection() as conn:
            locked = conn.execute("SELECT pg_try_advisory_xact_lock(%s) AS ok", (REDRIVE_LOCK_KEY,)).fetchone()
            if not one(locked)["ok"]:
                return total
            # now due (wake_at = now()): the steps of a dead owner, counted as expired leases below
            conn.execute(ORPHANED_STEPS, {"grace": RESTART_GRACE, "class": OWNER_CLASS})
            due = conn.execute(DUE_STEPS, {"batch": batch, "grace": grace}).fetchall()
            checks = conn.execute(
                DUE_HEALTH_CHECKS, {"batch": batch, "interval": health_interval, "drift": drift_interval}
            ).fetchall()
        total += publisher.publish(due)
        due_steps += len(due)
        LEASE_EXPIRIES.inc(sum(1 for step in due if step["expired"]))
        REDRIVE_PUBLISHED.labels("step").inc(len(due))
        REDRIVE_PUBLISHED.labels("health").inc(len(checks))
        REDRIVE_PUBLISHED.labels("drift").inc(sum(1 for check in checks if check["drift"]))
        for task, ids in ((HEALTH_TASK, [str(c["id"]) for c in checks]),
                          (DRIFT_TASK, [str(c["id"]) for c in checks if c["drift"]])):  # fmt: skip
            for start in range(0, len(ids), CHECK_BATCH):
                publisher.app.send_task(task, args=[ids[start : start + CHECK_BATCH]])
        total += len(checks)
        if len(due) < batch and len(checks) < batch:
            REDRIVE_PASSES.inc()
            REDRIVE_DUE.set(due_steps)
            return total
