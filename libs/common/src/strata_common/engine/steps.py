"""SQL of the steps table: every state transition is one guarded UPDATE ... RETURNING.

Connections must return rows as dicts. A transition that finds no row lost a race (the step was
claimed, finished or superseded by someone else) and is not an error.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from strata_common.db.types import DbConnection, one
from strata_common.engine.model import Step, StepSpec

CLAIMABLE = """
    ((status IN ('ready', 'failed') AND not_before <= now())
     OR (status = 'running' AND lease_until < now()))
"""

# A claim splits the time since the step's last run ended (or since it became due) into waiting, until
# its not_before (a requeue or a backoff), and queued (due, not yet claimed); a step taken over after
# its lease ran out counts the lost run as queued. SET expressions see the row as it was.
_IDLE_TIME = """
    waiting_seconds = waiting_seconds + CASE WHEN status = 'running' THEN 0
        ELSE greatest(0, extract(epoch FROM least(now(), not_before) - idle_since)) END,
    queued_seconds = queued_seconds + CASE WHEN status = 'running' THEN extract(epoch FROM now() - idle_since)
        ELSE greatest(0, extract(epoch FROM now() - greatest(not_before, idle_since))) END,
    due_at = coalesce(due_at, idle_since)
"""


def insert_plan(
    conn: DbConnection, cluster_id: UUID, generation: int, specs: list[StepSpec], grace: float
) -> list[dict]:
    """Insert the plan's steps (once: re-submitting the same generation inserts nothing new).

    Steps without dependencies start `ready`; the rest `pending`. Returns the ready ones inserted.
    """
    ready = []
    for spec in specs:
        row = conn.execute(
            """
            INSERT INTO steps (cluster_id, generation, name, queue, condition, depends_on, status, input, wake_at,
                               due_at)
            VALUES (%(c)s, %(g)s, %(n)s, %(q)s, %(cond)s, %(deps)s, %(status)s, %(input)s,
                    CASE WHEN %(status)s = 'ready' THEN now() + make_interval(secs => %(grace)s) END,
                    CASE WHEN %(status)s = 'ready' THEN now() END)
            ON CONFLICT (cluster_id, generation, name) DO NOTHING
            RETURNING id, queue, status
            """,
            {
                "c": cluster_id,
                "g": generation,
                "n": spec.name,
                "q": spec.queue,
                "cond": spec.condition,
                "deps": list(spec.depends_on),
                "status": "pending" if spec.depends_on else "ready",
                "input": Jsonb(spec.input),
                "grace": grace,
            },
        ).fetchone()
        if row and row["status"] == "ready":
            ready.append(row)
    return ready


def supersede_older(conn: DbConnection, cluster_id: UUID, generation: int) -> int:
    """Stop the not-yet-started steps of generations older than `generation`; return how many."""
    cur = conn.execute(
        "UPDATE steps SET status = 'superseded', wake_at = NULL, finished_at = now()"
        " WHERE cluster_id = %s AND generation < %s AND status IN ('pending', 'ready', 'failed')",
        (cluster_id, generation),
    )
    return cur.rowcount


def claim(conn: DbConnection, step_id: int, worker: str, lease: float, owner: int) -> tuple[Step, dict] | None:
    """Take the step if it is due and nobody holds it: (the step, its cluster's row), read in the same
    statement; None when another worker has it or it is done. `owner`: the claiming process's liveness
    lock (strata_common.engine.liveness)."""
    row = conn.execute(
        f"""
        WITH claimed AS (
            UPDATE steps SET status = 'running', attempts = attempts + 1, claim_token = gen_random_uuid(),
                   claimed_by = %s, owner = %s, lease_until = now() + make_interval(secs => %s),
                   wake_at = now() + make_interval(secs => %s), started_at = coalesce(started_at, now()),
                   idle_since = now(), {_IDLE_TIME}
            WHERE id = %s AND {CLAIMABLE}
            RETURNING *)
        SELECT claimed.*, json_build_object('id', c.id, 'project_id', c.project_id, 'name', c.name,
               'generation', c.generation, 'spec', c.spec, 'status', c.status, 'paused', c.paused) AS cluster
        FROM claimed JOIN clusters c ON c.id = claimed.cluster_id
        """,
        (worker, owner, lease, lease, step_id),
    ).fetchone()
    return (Step.from_row(row), row["cluster"]) if row else None


def heartbeat(conn: DbConnection, step: Step, lease: float) -> bool:
    """Extend the lease of a step we hold; False if we lost it."""
    cur = conn.execute(
        "UPDATE steps SET lease_until = now() + make_interval(secs => %s), wake_at = now() + make_interval(secs => %s)"
        " WHERE id = %s AND claim_token = %s AND status = 'running'",
        (lease, lease, step.id, step.claim_token),
    )
    return cur.rowcount == 1


def note(conn: DbConnection, step: Step, data: dict[str, Any]) -> bool:
    """Merge `data` into the output of a step we hold (e.g. an idempotency token, before the cloud call)."""
    cur = conn.execute(
        "UPDATE steps SET output = coalesce(output, '{}'::jsonb) || %s WHERE id = %s AND claim_token = %s"
        " AND status = 'running'",
        (Jsonb(data), step.id, step.claim_token),
    )
    return cur.rowcount == 1


def succeed(conn: DbConnection, step: Step, output: dict[str, Any], worked: float) -> bool:
    """Succeeded after its handler ran `worked` seconds."""
    cur = conn.execute(
        "UPDATE steps SET status = 'succeeded', output = coalesce(output, '{}'::jsonb) || %s, wake_at = NULL,"
        " lease_until = NULL, working_seconds = working_seconds + %s,"
        " finished_at = now(), last_error = NULL, error_reason = NULL, error_class = NULL"
        " WHERE id = %s AND claim_token = %s AND status = 'running'",
        (Jsonb(output), worked, step.id, step.claim_token),
    )
    return cur.rowcount == 1


# A step of a generation older than its cluster's delete that ends a run without succeeding is not run
# again: the delete's plan found it running and let it finish, and it must not launch what the delete
# removes. (An update lets an older generation's steps go on: a build or a node under way is finished.)
_STALE = ("generation < (SELECT c.generation FROM clusters c WHERE c.id = steps.cluster_id"
          " AND c.phase = 'Deleting')")  # fmt: skip


def fail(conn: DbConnection, step: Step, reason: str, message: str, error_class: str, delay: float,
         grace: float = 0.0, worked: float = 0.0) -> bool:  # fmt: skip
    """Failed after its handler ran `worked` seconds; tried again after `delay` seconds (superseded instead
    when its cluster is being deleted by a newer generation). `grace`: how much longer beat waits before publishing
    it (when a message sent with a countdown is on its way, it should not get a twin)."""
    cur = conn.execute(
        f"UPDATE steps SET status = CASE WHEN {_STALE} THEN 'superseded' ELSE 'failed' END,"
        " last_error = %s, error_reason = %s, error_class = %s, not_before = now() + make_interval(secs => %s),"
        f" wake_at = CASE WHEN {_STALE} THEN NULL ELSE now() + make_interval(secs => %s) END,"
        f" finished_at = CASE WHEN {_STALE} THEN now() END,"
        " lease_until = NULL, working_seconds = working_seconds + %s, idle_since = now()"
        " WHERE id = %s AND claim_token = %s AND status = 'running'",
        (message, reason, error_class, delay, delay + grace, worked, step.id, step.claim_token),
    )
    return cur.rowcount == 1


def requeue(conn: DbConnection, step: Step, after: float, grace: float = 0.0, worked: float = 0.0) -> bool:
    """Back to ready after `after` seconds, its handler having run `worked`; a wait is not an attempt.
    `grace` and a stale generation as for `fail`."""
    cur = conn.execute(
        f"UPDATE steps SET status = CASE WHEN {_STALE} THEN 'superseded' ELSE 'ready' END,"
        " attempts = attempts - 1, not_before = now() + make_interval(secs => %s),"
        f" wake_at = CASE WHEN {_STALE} THEN NULL ELSE now() + make_interval(secs => %s) END,"
        f" finished_at = CASE WHEN {_STALE} THEN now() END, lease_until = NULL,"
        " working_seconds = working_seconds + %s, idle_since = now()"
        " WHERE id = %s AND claim_token = %s AND status = 'running'",
        (after, after + grace, worked, step.id, step.claim_token),
    )
    return cur.rowcount == 1


def wake_waiting(conn: DbConnection, cluster_id: UUID, queue: str, generation: int, grace: float) -> list[dict]:
    """Make the cluster's steps of `queue` and generations up to `generation` that wait (requeued until a
    later time) due now: what they wait for has happened. `grace` as for `fail`."""
    return conn.execute(
        "UPDATE steps SET not_before = now(), wake_at = now() + make_interval(secs => %s)"
        " WHERE cluster_id = %s AND generation <= %s AND queue = %s AND status = 'ready' AND not_before > now()"
        " RETURNING id, queue",
        (grace, cluster_id, generation, queue),
    ).fetchall()


def running_older(conn: DbConnection, cluster_id: UUID, generation: int) -> list[str]:
    """Steps of generations older than `generation` that are still running (a plan lets them finish)."""
    rows = conn.execute(
        "SELECT name FROM steps WHERE cluster_id = %s AND generation < %s AND status = 'running' ORDER BY id",
        (cluster_id, generation),
    ).fetchall()
    return [row["name"] for row in rows]


def unblock_dependents(conn: DbConnection, step: Step, grace: float) -> list[dict]:
    """Pending steps of the same generation waiting on `step` whose dependencies have all succeeded."""
    return conn.execute(
        """
        UPDATE steps s SET status = 'ready', wake_at = now() + make_interval(secs => %(grace)s),
               not_before = now(), idle_since = now(), due_at = now()
        WHERE s.cluster_id = %(c)s AND s.generation = %(g)s AND s.status = 'pending'
          AND %(name)s = ANY (s.depends_on)
          AND NOT EXISTS (
              SELECT 1 FROM steps d
              WHERE d.cluster_id = s.cluster_id AND d.generation = s.generation
                AND d.name = ANY (s.depends_on) AND d.status <> 'succeeded')
        RETURNING s.id, s.queue
        """,
        {"grace": grace, "c": step.cluster_id, "g": step.generation, "name": step.name},
    ).fetchall()


# Every status but 'succeeded', spelled out so the (cluster_id, generation, status) index is probed.
NOT_SUCCEEDED = ["pending", "ready", "running", "failed", "superseded", "cancelled"]


def generation_state(conn: DbConnection, step: Step) -> tuple[bool, bool, bool]:
    """(every step of the step's milestone has succeeded, every step of its generation has, some step of
    the generation is failing), in one query."""
    row = conn.execute(
        """
        SELECT NOT EXISTS (SELECT 1 FROM steps WHERE cluster_id = %(c)s AND generation = %(g)s
                           AND status = ANY(%(others)s) AND condition = %(m)s) AS milestone,
               NOT EXISTS (SELECT 1 FROM steps WHERE cluster_id = %(c)s AND generation = %(g)s
                           AND status = ANY(%(others)s)) AS done,
               EXISTS (SELECT 1 FROM steps WHERE cluster_id = %(c)s AND generation = %(g)s
                       AND status = 'failed') AS failing
        """,
        {"c": step.cluster_id, "g": step.generation, "others": NOT_SUCCEEDED, "m": step.condition},
    ).fetchone()
    return one(row)["milestone"], one(row)["done"], one(row)["failing"]


def list_steps(conn: DbConnection, cluster_id: UUID, generation: int | None = None) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, generation, name, queue, condition, depends_on, status, attempts, not_before, lease_until,"
        " last_error, error_reason, error_class, output, redrives, started_at, finished_at FROM steps"
        " WHERE cluster_id = %s AND (%s::bigint IS NULL OR generation = %s) ORDER BY generation, id",
        (cluster_id, generation, generation),
    ).fetchall()
