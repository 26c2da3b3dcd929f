"""Add-ons benchmark on the local cloud and its Kubernetes API emulator, through the HTTP API.

(a) BENCH_ADDON_CLUSTERS clusters (default 20; 1 control plane + 2 workers) whose profile carries
    every built-in CNI, CSI and add-on pack for the local cloud (Calico, local-path, Prometheus,
    Vault, Permissions Manager), at time scale 0: time from the first ensure_pack step starting to
    the last finishing, per cluster (mean, max) and overall, and objects applied per second.
(b) Server-side apply requests per second against the emulator: BENCH_SSA_THREADS threads
    (default 4), each applying BENCH_SSA_APPLIES ConfigMaps (default 300) to one cluster with
    Strata's client (one kept-alive TLS connection per thread), then the same again unchanged.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
from harness import bench_env
from provision import Fleet
from psycopg.rows import dict_row

from strata_common.config import load_settings
from strata_common.kube.access import cluster_access
from strata_common.kube.client import KubeClient

CLUSTERS = int(os.environ.get("BENCH_ADDON_CLUSTERS", "20"))
THREADS = int(os.environ.get("BENCH_SSA_THREADS", "4"))
APPLIES = int(os.environ.get("BENCH_SSA_APPLIES", "300"))
LAYERS = [
    {"pack": "ubuntu-22.04", "version": "1.0.0"},
    {"pack": "kubernetes", "version": "1.32.1"},
    {"pack": "calico", "version": "3.28.2"},
    {"pack": "local-path", "version": "0.0.30"},
    {"pack": "prometheus", "version": "2.54.1"},
    {"pack": "vault", "version": "1.17.6", "values": "replicas: 1\n"},
    {"pack": "permissions-manager", "version": "1.0.0"},
]
POOLS = [
    {"name": "cp", "role": "controlPlane", "count": 1, "instanceType": "large", "zones": ["local-1a"],
     "diskGiB": 40},
    {"name": "w", "role": "worker", "count": 2, "instanceType": "large", "zones": ["local-1a", "local-1b"],
     "diskGiB": 40},
]  # fmt: skip


def pack_windows(env: dict[str, str], ids: list[str]) -> list[dict]:
    with psycopg.connect(env["STRATA_DATABASE_URL"], row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT cluster_id, min(started_at) AS first, max(finished_at) AS last,"
            " sum((output ->> 'objects')::int) AS objects FROM steps"
            " WHERE cluster_id = ANY(%s::uuid[]) AND name LIKE 'ensure_pack/%%' AND status = 'succeeded'"
            " GROUP BY cluster_id",
            (ids,),
        ).fetchall()


def apply_rate(client_for, label: str) -> None:
    def run(thread: int) -> list[float]:
        client = client_for()
        latencies = []
        for i in range(APPLIES):
            body = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": f"bench-{thread}-{i}", "namespace": "default", "labels": {"bench": "ssa"}},
                    "data": {"index": str(i), "payload": "x" * 256}}  # fmt: skip
            start = time.perf_counter()
            client.apply(body, "bench")
            latencies.append(time.perf_counter() - start)
        client.close()
        return latencies

    start = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        latencies = [x for chunk in pool.map(run, range(THREADS)) for x in chunk]
    elapsed = time.perf_counter() - start
    latencies.sort()
    median, p99 = statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99)] * 1000
    print(f"    {label}: {len(latencies)} applies in {elapsed:.2f} s = {len(latencies) / elapsed:.0f} requests/s; "
          f"median {median:.1f} ms, p99 {p99:.1f} ms")  # fmt: skip


def main() -> None:
    with bench_env() as env:
        fleet = Fleet(env)
        try:
            fleet.workers_with(0.0)
            profile = fleet.session.post(f"{fleet.api}/v1/profiles", json={"name": "addons", "layers": LAYERS},
                                         timeout=30).json()["id"]  # fmt: skip
            fleet.one("warm-up")  # the image the others reuse
            print(f"machine: {os.cpu_count()} cores; workers with 2 processes each, one emulator process")
            start = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                ids = list(
                    pool.map(lambda n: fleet.create(n, profile, pools=POOLS), [f"a{i}" for i in range(CLUSTERS)])
                )
            fleet.until_running(ids)
            elapsed = time.perf_counter() - start
            windows = pack_windows(fleet.env, ids)
            spans = [(w["last"] - w["first"]).total_seconds() for w in windows]
            objects = sum(w["objects"] for w in windows)
            overall = (max(w["last"] for w in windows) - min(w["first"] for w in windows)).total_seconds()
            print(f"(a) {CLUSTERS} clusters with 5 packs each, all Running in {elapsed:.1f} s; applying the packs "
                  f"took {statistics.mean(spans):.2f} s per cluster on average (max {max(spans):.2f} s), "
                  f"{overall:.1f} s for all; {objects} objects, {objects / overall:.0f} objects/s applied and "
                  "available")  # fmt: skip
            settings = load_settings(fleet.env)
            with psycopg.connect(fleet.env["STRATA_DATABASE_URL"], row_factory=dict_row) as conn:
                access = cluster_access(conn, ids[0], settings)
            print(f"(b) server-side apply against the emulator, {THREADS} threads:")
            apply_rate(lambda: KubeClient(access), "create")
            apply_rate(lambda: KubeClient(access), "unchanged")
        finally:
            fleet.stop()


if __name__ == "__main__":
    main()
