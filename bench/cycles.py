"""Create/delete cycles on the local cloud under random SIGKILLs, through the HTTP API and real workers.

BENCH_CYCLES (default 1000) cycles of a 1 + 1 node cluster at time scale 0, BENCH_CYCLE_LANES (10) at
once, while a worker (image builder, provisioner or add-ons) is SIGKILLed and started again every 3
to 6 s. With STRATA_RETENTION_SECONDS 0, what the deleted clusters leave is purged by beat's purge
and the emulator's garbage collection. Prints cycles per second, the kills, resources still tagged
to any of the clusters, steps left unfinished and the database's size before and after (after the
purge: the files after a VACUUM, and what they hold after a VACUUM FULL). Asserts nothing.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import psycopg
from harness import bench_env
from provision import CONCURRENCY, Fleet

CYCLES = int(os.environ.get("BENCH_CYCLES", "1000"))
LANES = int(os.environ.get("BENCH_CYCLE_LANES", "10"))
SMALL = [{"name": "cp", "role": "controlPlane", "count": 1, "instanceType": "medium", "zones": ["local-1a"]},
         {"name": "w", "role": "worker", "count": 1, "instanceType": "medium", "zones": ["local-1a"]}]  # fmt: skip
KILLABLE = ("imagebuilder", "provisioner", "addons")
WORKER_ENV = {"STRATA_LOCALCLOUD_TIME_SCALE": "0", "STRATA_WORKER_CONCURRENCY": CONCURRENCY}


def size(fleet: Fleet, vacuum: str) -> int:
    """The database's size after `vacuum` (VACUUM keeps freed space for reuse; VACUUM FULL returns it)."""
    with psycopg.connect(fleet.env["STRATA_DATABASE_URL"], autocommit=True) as conn:
        conn.execute(vacuum)
        return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]


def cycle(fleet: Fleet, name: str) -> str:
    """Create a cluster, wait for Running, delete it, wait until it is gone; its id."""
    cluster = fleet.create(name, pools=SMALL)
    fleet.until_running([cluster])
    fleet.session.delete(f"{fleet.api}/v1/clusters/{cluster}", timeout=60).raise_for_status()
    while fleet.value("SELECT count(*) FROM clusters WHERE id = %s AND deleted_at IS NULL", cluster):
        time.sleep(0.1)
    return cluster


def main() -> None:
    with bench_env() as env:
        fleet = Fleet({**env, "STRATA_RETENTION_SECONDS": "0"})
        try:
            fleet.workers_with(0.0)
            fleet.until_running([fleet.create("warm-up", pools=SMALL)])
            before = size(fleet, "VACUUM FULL")
            ids: list[str] = []
            done, kills = threading.Event(), [0]
            names = iter(range(CYCLES))
            lock = threading.Lock()

            def lane() -> None:
                while True:
                    with lock:
                        n = next(names, None)
                    if n is None:
                        return
                    ids.append(cycle(fleet, f"c{n}"))

            def killer() -> None:
                rng = random.Random(1000)
                while not done.wait(rng.uniform(3, 6)):
                    index = rng.choice([i for i, p in enumerate(fleet.workers) if p.args[-1] in KILLABLE])
                    proc = fleet.workers[index]
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    fleet.workers[index] = fleet.start([proc.args[-1]], WORKER_ENV)
                    kills[0] += 1

            start = time.perf_counter()
            lanes = [threading.Thread(target=lane) for _ in range(LANES)]
            chaos = threading.Thread(target=killer, daemon=True)
            for thread in [*lanes, chaos]:
                thread.start()
            for thread in lanes:
                thread.join()
            took = time.perf_counter() - start
            done.set()
            chaos.join()
            left = ("SELECT (SELECT count(*) FROM clusters WHERE id = ANY(%s::uuid[]))"
                    " + (SELECT count(*) FROM lc_resources WHERE tags->>'strata:cluster' = ANY(%s))"
                    " + (SELECT count(*) FROM kube_changes WHERE cluster_id = ANY(%s::uuid[]))")  # fmt: skip
            deadline = time.monotonic() + 180
            while fleet.value(left, ids, ids, ids) and time.monotonic() < deadline:
                time.sleep(1)
            leaks = fleet.value("SELECT count(*) FROM lc_resources WHERE deleted_at IS NULL"
                          " AND tags->>'strata:cluster' = ANY(%s)", ids)  # fmt: skip
            unpurged = fleet.value(left, ids, ids, ids)
            unfinished = fleet.value("SELECT count(*) FROM steps WHERE cluster_id = ANY(%s::uuid[])"
                               " AND status <> 'succeeded'", ids)  # fmt: skip
            after = size(fleet, "VACUUM")
            kept = size(fleet, "VACUUM FULL")
            print(f"{len(ids)} create/delete cycles of a 1 + 1 cluster, {LANES} at once, time scale 0, "
                  f"{kills[0]} worker SIGKILLs: {took:.0f} s ({len(ids) / took:.2f} cycles/s); "
                  f"{leaks} live resources left tagged to them, {unpurged} rows of them not yet purged, "
                  f"{unfinished} steps unfinished; database {before / 2**20:.1f} MiB before, after the purge "
                  f"{after / 2**20:.1f} MiB of files ({(after / before - 1) * 100:+.1f} %) holding "
                  f"{kept / 2**20:.1f} MiB ({(kept / before - 1) * 100:+.1f} %, sizes after VACUUM FULL)")  # fmt: skip
        finally:
            fleet.stop()


if __name__ == "__main__":
    main()
