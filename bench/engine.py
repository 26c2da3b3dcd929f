"""Engine benchmark: bare Celery round trips vs engine steps (independent, and chained vs a chain of bare
tasks), re-drive query.

Runs a real provisioner worker (STRATA_WORKER_CONCURRENCY processes, default 2) against PostgreSQL
and Redis from bench/harness.py. Prints figures; asserts nothing.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import redis
from harness import bench_env
from psycopg.rows import dict_row

from strata_common.celery_app import create_celery
from strata_common.engine.model import StepSpec
from strata_common.engine.plan import submit_plan
from strata_common.engine.publish import Publisher
from strata_common.engine.redrive import DUE_STEPS
from strata_common.queues import CONTROL

HERE = Path(__file__).resolve().parent
N_TASKS = int(os.environ.get("BENCH_TASKS", "2000"))
N_STEPS = int(os.environ.get("BENCH_STEPS", "2000"))
N_CHAIN = int(os.environ.get("BENCH_CHAIN", "300"))


def wait_for(predicate, timeout: float = 600.0, interval: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark did not finish in time")
        time.sleep(interval)


def new_cluster(conn: psycopg.Connection) -> uuid.UUID:
    return conn.execute("INSERT INTO clusters (name) VALUES (%s) RETURNING id", (uuid.uuid4().hex,)).fetchone()["id"]


def steps_per_second(database_url: str, publisher: Publisher, specs: list[StepSpec]) -> float:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        cluster = new_cluster(conn)
        conn.commit()
        started = time.perf_counter()
        ready = submit_plan(conn, cluster, 1, specs, grace=60)
        conn.commit()
        publisher.publish(ready)

        def done() -> bool:
            row = conn.execute(
                "SELECT count(*) AS n FROM steps WHERE cluster_id = %s AND status = 'succeeded'", (cluster,)
            ).fetchone()
            conn.commit()
            return row["n"] == len(specs)

        wait_for(done)
        return len(specs) / (time.perf_counter() - started)


def bare_tasks_per_second(app, client: redis.Redis) -> float:
    client.delete("bench:done")
    started = time.perf_counter()
    for _ in range(N_TASKS):
        app.send_task("strata.provisioner.bench_noop")
    wait_for(lambda: int(client.get("bench:done") or 0) >= N_TASKS)
    return N_TASKS / (time.perf_counter() - started)


def bare_chain_per_second(app, client: redis.Redis) -> float:
    client.delete("bench:done")
    started = time.perf_counter()
    app.send_task("strata.provisioner.bench_chain", args=[N_CHAIN])
    wait_for(lambda: int(client.get("bench:done") or 0) >= N_CHAIN)
    return N_CHAIN / (time.perf_counter() - started)


def redrive_query(database_url: str) -> tuple[float, str]:
    """Median time of the re-drive query over 100,000 steps of which 100 are due, and its plan."""
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        cluster = new_cluster(conn)
        conn.execute(
            """
            INSERT INTO steps (cluster_id, generation, name, queue, status, wake_at, lease_until)
            SELECT %s, 2, 'bench/' || g, 'provisioner',
                   CASE WHEN g <= 100 THEN 'failed' WHEN g <= 1000 THEN 'running' ELSE 'succeeded' END,
                   CASE WHEN g <= 100 THEN now() - interval '1 s'
                        WHEN g <= 1000 THEN now() + interval '1 h' END,
                   CASE WHEN g > 100 AND g <= 1000 THEN now() + interval '1 h' END
            FROM generate_series(1, 100000) g
            """,
            (cluster,),
        )
        conn.execute("ANALYZE steps")
        conn.commit()
        times = []
        for _ in range(21):
            start = time.perf_counter()
            rows = conn.execute(DUE_STEPS, {"batch": 500, "grace": 60}).fetchall()
            times.append((time.perf_counter() - start) * 1000)
            conn.rollback()  # leave the 100 due for the next round
        assert len(rows) == 100, len(rows)
        explain = conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + DUE_STEPS, {"batch": 500, "grace": 60}
        ).fetchall()
        conn.rollback()
    return statistics.median(times), "\n".join(r["QUERY PLAN"] for r in explain)


def main() -> None:
    with bench_env() as base:
        run(base)


def run(base: dict[str, str]) -> None:
    database_url, redis_url = base["STRATA_DATABASE_URL"], base["STRATA_REDIS_URL"]
    client = redis.Redis.from_url(redis_url)
    concurrency = os.environ.get("STRATA_WORKER_CONCURRENCY", "2")
    env = {**base, "STRATA_HANDLER_MODULES": "bench_handlers", "STRATA_WORKER_CONCURRENCY": concurrency}
    worker = subprocess.Popen(
        [sys.executable, "-m", "strata_cli.main", "serve", "provisioner"], env=env, start_new_session=True
    )
    try:
        app = create_celery(CONTROL, redis_url)
        publisher = Publisher(app)
        bare_tasks_per_second(app, client)  # warm-up: worker up, connections open
        print(f"machine: {os.cpu_count()} cores; worker: provisioner, {concurrency} processes")
        a = bare_tasks_per_second(app, client)
        print(f"(a) bare Celery no-op tasks, round trip:   {a:8.1f} tasks/s  ({N_TASKS} tasks)")
        b = steps_per_second(
            database_url, publisher, [StepSpec(f"bench.noop/{i}", "provisioner") for i in range(N_STEPS)]
        )
        print(f"(b) engine no-op steps, independent plan:  {b:8.1f} steps/s  ({N_STEPS} steps)")
        chain = [
            StepSpec(f"bench.noop/{i}", "provisioner", depends_on=(f"bench.noop/{i - 1}",) if i else ())
            for i in range(N_CHAIN)
        ]
        c = steps_per_second(database_url, publisher, chain)
        print(f"(c) engine no-op steps, dependent chain:   {c:8.1f} steps/s  ({N_CHAIN} steps)")
        d = bare_chain_per_second(app, client)
        print(f"(d) bare Celery tasks, each sending the next: {d:8.1f} tasks/s  ({N_CHAIN} tasks)")
        print(f"ratios: independent (b)/(a) {b / a:.2f} (target >= 0.7); chain (c)/(d) {c / d:.2f} (target >= 0.5)")
        median_ms, plan = redrive_query(database_url)
        print(f"re-drive query, 100,000 steps of which 100 due: median {median_ms:.2f} ms over 21 runs")
        print(plan)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait()


if __name__ == "__main__":
    main()
