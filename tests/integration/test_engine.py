"""The engine under crashes, lost messages, duplicates, failures, concurrent beats and spec changes.

Real PostgreSQL, real Redis, real `strata serve` worker and beat processes.
"""

from __future__ import annotations

import os
import signal
import time

import psycopg
import redis
from engine_support import (
    connect,
    engine_env,
    new_cluster,
    plan,
    prepare,
    start_worker,
    step_rows,
    wait_steps,
)

from helpers import STRATA, wait_until
from strata_common.celery_app import create_celery
from strata_common.engine.liveness import OWNER_CLASS, RESTART_GRACE, Liveness
from strata_common.engine.model import StepSpec
from strata_common.queues import CONTROL, run_step_task


def test_sigkilled_worker_step_is_redriven_and_its_effect_exists_once(strata_env, processes, database_url, redis_url):
    # A lease far longer than the test: the step runs again because its owner's liveness lock went
    # with the killed process, not because its lease ran out.
    env = engine_env(strata_env, STRATA_STEP_LEASE_SECONDS="600")
    prepare(database_url)
    first = start_worker(processes, env, name="worker-1")
    processes.start("beat", [*STRATA, "serve", "beat"], env)
    cluster = new_cluster(database_url)
    spec = StepSpec("test.ensure_row", "provisioner", "InfrastructureReady", input={"key": "vm-1", "sleep_first": 60})
    plan(database_url, redis_url, cluster, [spec])

    def executing():
        with connect(database_url) as conn:
            return conn.execute("SELECT count(*) AS n FROM executions").fetchone()["n"] == 1

    wait_until(executing, timeout=60, message="the first attempt to start")
    start_worker(processes, env, name="worker-2")

    def server_settled():  # just after a server start, the re-drive trusts leases only (see liveness.py)
        with connect(database_url) as conn:
            uptime = conn.execute("SELECT extract(epoch FROM now() - pg_postmaster_start_time()) AS s").fetchone()
            return uptime["s"] > RESTART_GRACE

    wait_until(server_settled, timeout=60, message="the server up longer than the restart grace")
    os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool children, mid-step
    first.wait()
    with connect(database_url) as conn:
        killed = conn.execute("SELECT clock_timestamp() AS t").fetchone()["t"]

    rows = wait_steps(database_url, cluster, 1)
    step = rows["1:test.ensure_row"]
    assert step["status"] == "succeeded"
    assert step["attempts"] == 2
    with connect(database_url) as conn:
        assert conn.execute("SELECT count(*) AS n FROM effects WHERE key = 'vm-1'").fetchone()["n"] == 1
        assert conn.execute("SELECT count(*) AS n FROM executions").fetchone()["n"] == 2
        again = conn.execute("SELECT max(at) AS t FROM executions").fetchone()["t"]
    print(f"a step whose worker was SIGKILLed ran again {(again - killed).total_seconds():.1f} s after the kill"
          " (lease 600 s)")  # fmt: skip


def test_redis_flushall_with_50_queued_steps_loses_nothing(strata_env, processes, database_url, redis_url):
    env = engine_env(strata_env)
    prepare(database_url)
    cluster = new_cluster(database_url)
    specs = [StepSpec(f"test.work/{i}", "provisioner", "WorkersReady") for i in range(50)]
    plan(database_url, redis_url, cluster, specs)
    client = redis.Redis.from_url(redis_url)
    assert client.llen("provisioner") == 50  # queued, nobody consuming yet
    client.flushall()
    assert client.llen("provisioner") == 0

    processes.start("beat", [*STRATA, "serve", "beat"], env)
    start_worker(processes, env)
    rows = wait_steps(database_url, cluster, 50)
    assert all(r["status"] == "succeeded" for r in rows.values())
    with connect(database_url) as conn:
        assert conn.execute("SELECT count(DISTINCT step_id) AS n FROM executions").fetchone()["n"] == 50
        condition = conn.execute(
            "SELECT status FROM conditions WHERE cluster_id = %s AND type = 'WorkersReady'", (cluster,)
        ).fetchone()
    assert condition["status"] == "True"


def test_a_step_delivered_three_times_runs_once(strata_env, processes, database_url, redis_url):
    env = engine_env(strata_env, STRATA_WORKER_CONCURRENCY="3")
    prepare(database_url)
    start_worker(processes, env)
    cluster = new_cluster(database_url)
    plan(database_url, redis_url, cluster, [StepSpec("test.work", "provisioner", input={"seconds": 1})])
    step_id = step_rows(database_url, cluster)["1:test.work"]["id"]
    app = create_celery(CONTROL, redis_url)
    for _ in range(3):  # plus the one plan() published: four deliveries of the same step
        app.send_task(run_step_task("provisioner"), args=[step_id])
    wait_steps(database_url, cluster, 1)
    time.sleep(2)  # let the duplicates be consumed too
    assert redis.Redis.from_url(redis_url).llen("provisioner") == 0
    with connect(database_url) as conn:
        assert conn.execute("SELECT count(*) AS n FROM executions").fetchone()["n"] == 1
    assert step_rows(database_url, cluster)["1:test.work"]["attempts"] == 1


def test_failing_step_shows_on_its_condition_then_succeeds(strata_env, processes, database_url, redis_url):
    env = engine_env(strata_env)
    prepare(database_url)
    start_worker(processes, env)
    processes.start("beat", [*STRATA, "serve", "beat"], env)
    cluster = new_cluster(database_url)
    plan(
        database_url,
        redis_url,
        cluster,
        [StepSpec("test.flaky", "provisioner", "ControlPlaneReady", input={"failures": 3})],
    )

    def failing_condition():
        with connect(database_url) as conn:
            return conn.execute(
                "SELECT * FROM conditions WHERE cluster_id = %s AND type = 'ControlPlaneReady' AND status = 'False'",
                (cluster,),
            ).fetchone()

    seen = wait_until(failing_condition, timeout=60, interval=0.02, message="ControlPlaneReady to turn False")
    assert seen["reason"] == "VcpuLimitExceeded"
    assert "You have requested more vCPU capacity than allowed" in seen["message"]
    assert seen["error_class"] == "user-fixable"

    rows = wait_steps(database_url, cluster, 1)
    step = rows["1:test.flaky"]
    assert (step["status"], step["attempts"], step["last_error"]) == ("succeeded", 4, None)
    with connect(database_url) as conn:
        conditions = {r["type"]: r for r in conn.execute("SELECT * FROM conditions WHERE cluster_id = %s", (cluster,))}
        warnings = conn.execute(
            "SELECT reason, data FROM events WHERE cluster_id = %s AND level = 'warning' ORDER BY seq", (cluster,)
        ).fetchall()
    assert conditions["ControlPlaneReady"]["status"] == "True"
    assert conditions["Ready"]["status"] == "True"
    assert [(w["reason"], w["data"]["attempt"]) for w in warnings] == [("VcpuLimitExceeded", n) for n in (1, 2, 3)]


def test_two_beats_racing_for_20_seconds_never_publish_a_step_twice(strata_env, processes, database_url, redis_url):
    # Nobody consumes `provisioner`, so every publication stays countable in Redis. A long grace
    # means each due step must be published exactly once, however the two beats interleave: each beat
    # re-drives every 50 ms, so they race about 400 times each while new due steps keep arriving.
    env = engine_env(strata_env, STRATA_STEP_READY_GRACE="600", STRATA_REDRIVE_INTERVAL="0.05")
    prepare(database_url)
    cluster = new_cluster(database_url)
    control = [
        "-m", "celery", "-A", "strata_provisioner.worker:app", "worker", "--queues", "control",
        "--concurrency", "4", "--hostname", "control-%i@%h",
    ]  # fmt: skip
    for i in range(2):
        processes.start(f"control-{i}", [STRATA[0], *control], env)
        processes.start(
            f"beat-{i}", [*STRATA, "serve", "beat"], {**env, "STRATA_STATE_DIR": f"{env['STRATA_STATE_DIR']}/{i}"}
        )
    total = 0
    deadline = time.monotonic() + 20
    with connect(database_url) as conn:
        while time.monotonic() < deadline:  # new due steps keep arriving meanwhile
            conn.execute(
                "INSERT INTO steps (cluster_id, generation, name, queue, status, wake_at)"
                " SELECT %s, 1, 'test.work/' || g, 'provisioner', 'failed', now()"
                " FROM generate_series(%s::int, %s::int) g",
                (cluster, total, total + 19),
            )
            conn.commit()
            total += 20
            time.sleep(0.5)
    wait_until(
        lambda: redis.Redis.from_url(redis_url).llen("provisioner") >= total, timeout=30, message="every step published"
    )
    time.sleep(2)
    assert redis.Redis.from_url(redis_url).llen("provisioner") == total
    with connect(database_url) as conn:
        counts = conn.execute("SELECT redrives, count(*) AS n FROM steps GROUP BY redrives").fetchall()
    assert [(r["redrives"], r["n"]) for r in counts] == [(1, total)]


def test_a_delete_supersedes_older_steps_those_running_included_and_runs_its_plan(
    strata_env, processes, database_url, redis_url
):
    env = engine_env(strata_env)
    prepare(database_url)
    start_worker(processes, env)
    cluster = new_cluster(database_url)
    old = [
        StepSpec("test.work/a", "provisioner", "InfrastructureReady", input={"seconds": 3}),
        StepSpec("test.work/b", "provisioner", "InfrastructureReady", ("test.work/a",)),
        StepSpec("test.work/c", "provisioner", "ControlPlaneReady", ("test.work/b",)),
        StepSpec("test.flaky/d", "provisioner", "ControlPlaneReady", input={"failures": 99, "seconds": 3}),
    ]
    plan(database_url, redis_url, cluster, old)
    wait_until(lambda: {step_rows(database_url, cluster)[f"1:{name}"]["status"] for name in ("test.work/a",
               "test.flaky/d")} == {"running"}, message="steps a and d running")  # fmt: skip
    new = [StepSpec("test.work/x", "provisioner", "InfrastructureReady"),
           StepSpec("test.work/y", "provisioner", "ControlPlaneReady", ("test.work/x",))]  # fmt: skip
    with connect(database_url) as conn:  # the new generation deletes the cluster: nothing older may run again
        conn.execute("UPDATE clusters SET phase = 'Deleting' WHERE id = %s", (cluster,))
    assert plan(database_url, redis_url, cluster, new, bump=True) == 2

    rows = wait_steps(database_url, cluster, 6)
    assert {k: r["status"] for k, r in rows.items()} == {
        "1:test.work/a": "succeeded",  # it had started: it finishes, but unblocks nothing
        "1:test.work/b": "superseded",
        "1:test.work/c": "superseded",
        "1:test.flaky/d": "superseded",  # it failed after the new plan: it is not tried again
        "2:test.work/x": "succeeded",
        "2:test.work/y": "succeeded",
    }
    with connect(database_url) as conn:
        ready = conn.execute(
            "SELECT status, observed_generation FROM conditions WHERE cluster_id = %s AND type = 'Ready'", (cluster,)
        ).fetchone()
        tries = conn.execute("SELECT count(*) AS n FROM executions WHERE step_id = %s", (rows["1:test.flaky/d"]["id"],))
        assert tries.fetchone()["n"] == 1
    assert (ready["status"], ready["observed_generation"]) == ("True", 2)


def test_an_owner_lock_lost_with_its_connection_is_taken_again_under_the_same_number(database_url):
    liveness = Liveness()
    owner = liveness.owner(database_url)
    held = ("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = %s::oid"
            " AND objid = %s::oid AND objsubid = 2")  # fmt: skip
    with psycopg.connect(database_url, autocommit=True) as conn:
        [(pid,)] = conn.execute(held, (OWNER_CLASS, owner)).fetchall()
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))  # what a server restart does to it
        wait_until(lambda: not conn.execute(held, (OWNER_CLASS, owner)).fetchall(), timeout=10, message="lock gone")
        liveness.check()
        assert len(conn.execute(held, (OWNER_CLASS, owner)).fetchall()) == 1
    assert liveness.owner(database_url) == owner
