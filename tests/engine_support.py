"""Helpers of the engine tests: clusters, plans, and a real worker/beat fleet."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
from engine_handlers import SCHEMA
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from helpers import STRATA, wait_until
from strata_common.celery_app import create_celery
from strata_common.db.tokens import ensure_project
from strata_common.engine.model import StepSpec
from strata_common.engine.plan import bump_generation, submit_plan
from strata_common.engine.publish import Publisher
from strata_common.queues import CONTROL, ping_task

TESTS = Path(__file__).resolve().parent

ENGINE_ENV = {
    "STRATA_HANDLER_MODULES": "engine_handlers",
    "STRATA_STEP_LEASE_SECONDS": "3",
    "STRATA_STEP_BACKOFF_BASE": "0.3",
    "STRATA_STEP_BACKOFF_CAP": "1",
    "STRATA_STEP_READY_GRACE": "2",
    "STRATA_REDRIVE_INTERVAL": "0.5",
    "STRATA_WORKER_CONCURRENCY": "2",
}


def engine_env(strata_env: dict[str, str], **overrides: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(TESTS), strata_env.get("PYTHONPATH")]))
    return {**strata_env, **ENGINE_ENV, "PYTHONPATH": path, **overrides}


def connect(database_url: str) -> psycopg.Connection:
    return psycopg.connect(database_url, row_factory=dict_row)


def prepare(database_url: str) -> None:
    """Create the tables the test handlers write."""
    with connect(database_url) as conn:
        conn.execute(SCHEMA)


def new_cluster(database_url: str, name: str | None = None, project: str = "alpha") -> uuid.UUID:
    """A bare cluster row in `project` (the engine tests need no profile or account)."""
    with connect(database_url) as conn:
        row = conn.execute(
            "INSERT INTO clusters (name, project_id, spec) VALUES (%s, %s, %s) RETURNING id",
            (name or f"c-{uuid.uuid4().hex[:8]}", ensure_project(conn, project), Jsonb({})),
        ).fetchone()
    return row["id"]


def plan(database_url: str, redis_url: str, cluster_id: uuid.UUID, specs: list[StepSpec], bump: bool = False) -> int:
    """Submit `specs` for the cluster's generation (bumped first if asked) and publish what is ready."""
    with connect(database_url) as conn:
        if bump:
            generation = bump_generation(conn, cluster_id, {"bumped": True})
        else:
            generation = conn.execute("SELECT generation FROM clusters WHERE id = %s", (cluster_id,)).fetchone()[
                "generation"
            ]
        ready = submit_plan(conn, cluster_id, generation, specs, grace=2.0)
    Publisher(create_celery(CONTROL, redis_url)).publish(ready)
    return generation


def step_rows(database_url: str, cluster_id: uuid.UUID) -> dict[str, dict]:
    with connect(database_url) as conn:
        rows = conn.execute("SELECT * FROM steps WHERE cluster_id = %s ORDER BY id", (cluster_id,)).fetchall()
    return {f"{r['generation']}:{r['name']}": r for r in rows}


def wait_steps(database_url: str, cluster_id: uuid.UUID, done: int, timeout: float = 90) -> dict[str, dict]:
    def finished():
        rows = step_rows(database_url, cluster_id)
        count = sum(r["status"] in ("succeeded", "superseded", "cancelled") for r in rows.values())
        return rows if count >= done else None

    return wait_until(finished, timeout=timeout, message=f"{done} finished steps")


def start_worker(processes, env: dict[str, str], service: str = "provisioner", name: str | None = None):
    proc = processes.start(name or service, [*STRATA, "serve", service], env)
    wait_worker(env, service)
    return proc


def wait_worker(env: dict[str, str], service: str) -> None:
    """Block until `service` answers a ping through its queue."""
    token = str(uuid.uuid4())
    create_celery(CONTROL, env["STRATA_REDIS_URL"]).send_task(ping_task(service), args=[token], expires=60)

    def answered():
        with connect(env["STRATA_DATABASE_URL"]) as conn:
            return conn.execute("SELECT 1 FROM service_pings WHERE token = %s", (token,)).fetchone()

    wait_until(answered, timeout=60, message=f"{service} worker to answer")
