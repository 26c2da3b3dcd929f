"""Day-2 benchmark on the local cloud, through the HTTP API and real workers, beat and emulator.

(a) a 3 + 10 node cluster at time scale 0.02: a rolling instance-type change of the workers with
    maxSurge 2, then a Kubernetes upgrade (1.31 -> 1.32 by a profile revision: a new image is built,
    then every node replaced); each rollout's time beside the latency model's critical path for it,
    and the cloud calls per node replaced (the local cloud counts every call).
(b) BENCH_DAY2_CLUSTERS (default 1000) Running clusters (1 control plane + 1 worker, time scale 0)
    with STRATA_HEALTH_INTERVAL 60: the CPU the periodic health checks cost, as the CPU seconds of
    every Strata process and PostgreSQL over BENCH_DAY2_WINDOW seconds (default 120) with the checks
    running, minus the same window with none due (once the checks sent before are done); PostgreSQL's
    backends that serve the Kubernetes API emulator count as the emulator's. Target: under 10 % of one core.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import psycopg
import redis
from harness import bench_env
from provision import Fleet

from strata_common.queues import QUEUES
from strata_localcloud.cloud import LatencyModel

CLUSTERS = int(os.environ.get("BENCH_DAY2_CLUSTERS", "1000"))
WINDOW = float(os.environ.get("BENCH_DAY2_WINDOW", "120"))
SCALE = 0.02
CONTROL_PLANE = {"name": "cp", "role": "controlPlane", "count": 3, "instanceType": "medium",
                 "zones": ["local-1a", "local-1b", "local-1c"]}  # fmt: skip


def layers(kubernetes: str) -> list[dict]:
    return [{"pack": "ubuntu-22.04", "version": "1.0.0"}, {"pack": "kubernetes", "version": kubernetes}]


def workers(instance_type: str) -> dict:
    return {"name": "w", "role": "worker", "count": 10, "instanceType": instance_type,
            "zones": ["local-1a", "local-1b", "local-1c"], "rollout": {"maxSurge": 2, "maxUnavailable": 0}}  # fmt: skip


def calls(fleet: Fleet) -> int:
    with psycopg.connect(fleet.env["STRATA_DATABASE_URL"]) as conn:
        return conn.execute("SELECT sum(calls)::bigint FROM lc_throttle").fetchone()[0]


def rollout(fleet: Fleet, cluster: str, body: dict) -> tuple[float, int, int]:
    """(seconds to Running at the new generation, cloud calls, nodes replaced) of one change."""
    before, start = calls(fleet), time.perf_counter()
    generation = fleet.session.patch(f"{fleet.api}/v1/clusters/{cluster}", json=body, timeout=60).json()["generation"]
    while True:
        got = fleet.session.get(f"{fleet.api}/v1/clusters/{cluster}", timeout=60).json()
        if got["phase"] == "Running" and got["generation"] >= generation:
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    with psycopg.connect(fleet.env["STRATA_DATABASE_URL"]) as conn:
        replaced = conn.execute(
            "SELECT count(*) FROM machines WHERE cluster_id = %s AND generation = %s", (cluster, generation)
        ).fetchone()[0]
    return elapsed, calls(fleet) - before, replaced


def rollouts(fleet: Fleet) -> None:
    model = LatencyModel(SCALE)
    instance = model.seconds("instance")
    fleet.workers_with(SCALE)
    profile = fleet.session.post(f"{fleet.api}/v1/profiles", json={"name": "day2", "layers": layers("1.31.4")},
                                 timeout=30).json()["id"]  # fmt: skip
    cluster = fleet.create("day2", profile, pools=[CONTROL_PLANE, workers("medium")])
    fleet.until_running([cluster])
    resize_path = 5 * instance  # 10 workers in batches of 2: each batch one launch (in parallel) long
    took, used, replaced = rollout(fleet, cluster, {"pools": [CONTROL_PLANE, workers("large")]})
    print(f"(a) instance-type change of 10 workers, maxSurge 2, time scale {SCALE}: {took:.2f} s; critical path "
          f"of the model {resize_path:.2f} s (5 batches of one launch), ratio {took / resize_path:.2f}; "
          f"{used / replaced:.1f} cloud calls per node replaced ({replaced} nodes)")  # fmt: skip
    revision = fleet.session.put(f"{fleet.api}/v1/profiles/{profile}", json={"layers": layers("1.32.1")},
                                 timeout=30).json()["revision"]  # fmt: skip
    upgrade_path = instance + model.seconds("image") + 3 * instance + 5 * instance
    took, used, replaced = rollout(fleet, cluster, {"profile": {"id": profile, "revision": revision}})
    print(f"    Kubernetes 1.31 -> 1.32 of 3 + 10 nodes: {took:.2f} s; critical path of the model "
          f"{upgrade_path:.2f} s (image builder, its image, 3 control-plane nodes one at a time, 5 worker "
          f"batches; the image's Ansible run is not in the model), ratio {took / upgrade_path:.2f}; "
          f"{used / replaced:.1f} cloud calls per node replaced ({replaced} nodes)")  # fmt: skip


def processes(fleet: Fleet) -> tuple[set[int], set[int]]:
    """(control plane, emulator) process ids: Strata's processes and their children, and PostgreSQL's,
    each backend counted with the process it serves (the emulator's by its application_name)."""
    with psycopg.connect(fleet.env["STRATA_DATABASE_URL"]) as conn:
        directory = conn.execute("SHOW data_directory").fetchone()[0]
        serving = {r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = "
                                              "'strata-kubeapi'")}  # fmt: skip
    postmaster = [p.pid for p in psutil.process_iter(["cmdline"]) if directory in " ".join(p.info["cmdline"] or [])]

    def tree(pids: list[int]) -> set[int]:
        found = set()
        for pid in pids:
            try:
                found |= {pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))}
            except psutil.NoSuchProcess:
                continue
        return found

    emulator = tree([p.pid for p in fleet.procs if "kubeapi" in p.args]) | serving
    control = tree([p.pid for p in fleet.procs if "kubeapi" not in p.args] + postmaster) - serving
    return control, emulator


def cpu_seconds(pids: set[int]) -> dict[int, float]:
    """CPU seconds used so far by each of these processes."""
    used = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        used[pid] = times.user + times.system
    return used


def health_checks(fleet: Fleet) -> None:
    fleet.env["STRATA_HEALTH_INTERVAL"] = "60"
    fleet.workers_with(0.0)
    small = [{"name": "cp", "role": "controlPlane", "count": 1, "instanceType": "medium", "zones": ["local-1a"]},
             {"name": "w", "role": "worker", "count": 1, "instanceType": "medium", "zones": ["local-1a"]}]  # fmt: skip
    fleet.until_running([fleet.create("warm-up", pools=small)])
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda n: fleet.create(n, pools=small), [f"h{i}" for i in range(CLUSTERS)]))
    fleet.until_running(ids)
    queues = redis.Redis.from_url(fleet.env["STRATA_REDIS_URL"])

    def window(due: bool) -> tuple[float, float]:
        """(control plane, emulator) CPU seconds over the window."""
        with psycopg.connect(fleet.env["STRATA_DATABASE_URL"]) as conn:
            conn.execute("UPDATE clusters SET health_due_at = CASE WHEN %s THEN now() + random() * interval"
                         " '60 seconds' END WHERE phase = 'Running'", (due,))  # fmt: skip
        while any(queues.llen(queue) for queue in QUEUES):  # checks sent before are done
            time.sleep(1)
        time.sleep(5)
        control, emulator = processes(fleet)
        start = cpu_seconds(control | emulator)
        time.sleep(WINDOW)
        end = cpu_seconds(control | emulator)
        return tuple(sum(end[p] - start.get(p, 0.0) for p in group if p in end) for group in (control, emulator))

    idle = window(False)
    busy = window(True)
    with psycopg.connect(fleet.env["STRATA_DATABASE_URL"]) as conn:
        unhealthy = conn.execute("SELECT count(*) FROM events WHERE reason = 'NodeUnhealthy'").fetchone()[0]
    share, served = (busy[0] - idle[0]) / WINDOW, (busy[1] - idle[1]) / WINDOW
    print(f"(b) {CLUSTERS + 1} Running clusters, health interval 60 s, over {WINDOW:.0f} s: the control plane (API, "
          f"workers, beat, PostgreSQL) used {busy[0]:.1f} CPU s with the checks due and {idle[0]:.1f} without: the "
          f"checks cost {share * 100:.1f} % of one core (target < 10 %); the emulator answering them (the clusters' "
          f"API servers' side, with its PostgreSQL backends) {served * 100:.1f} % more ({busy[1]:.1f} vs "
          f"{idle[1]:.1f} CPU s); {unhealthy} nodes found unhealthy")  # fmt: skip


def main() -> None:
    with bench_env() as env:
        fleet = Fleet(env)
        try:
            rollouts(fleet)
            health_checks(fleet)
        finally:
            fleet.stop()


if __name__ == "__main__":
    main()
