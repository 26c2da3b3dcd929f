"""Provisioning benchmark on the local cloud, through the HTTP API and real provisioner and beat.

(a) BENCH_CLUSTERS clusters (default 200; 1 control plane + 2 workers) at time scale 0: time to all
    Running, clusters per minute, steps per second.
(b) one more cluster's time to Running with an empty fleet and with the fleet of (a) present.
(c) 10 clusters submitted at once with the latency model at time scale 0.02: the time from the
    first request to the last cluster Running, and the mean time from a cluster's creation to
    Running, each over the critical path of the model's latencies (network, then load balancer,
    then the control-plane node, then the workers; the plan's last hops, the add-ons service pruning
    packs the profile dropped and the cluster marked Running, are not in the model: their mean time
    is printed beside). Prints figures; asserts nothing.

With `--cloud aws`: BENCH_AWS_CLUSTERS clusters (default 50; 1 control plane + 2 workers, OS and
Kubernetes) on the AWS driver against moto_server behind the tests' wrapper (tests/aws_support.py:
IAM authentication, Canonical's AMIs, a real sshd for the one image build); with `--cloud azure`:
BENCH_AZURE_CLUSTERS (default 20) on the Azure driver against the ARM stand-in (tests/arm_server.py).
Time to all Running, the cloud API calls per cluster by operation, counted by the stand-in (the
warm-up cluster that builds the image is not counted), then the time and calls to delete them all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import requests
from harness import bench_env
from psycopg.rows import dict_row

from strata_cli.embedded import free_port
from strata_common.db.tokens import create_token
from strata_localcloud.cloud import LatencyModel

CLUSTERS = int(os.environ.get("BENCH_CLUSTERS", "200"))
CONCURRENCY = os.environ.get("BENCH_WORKER_CONCURRENCY", "2")
STRATA = [sys.executable, "-m", "strata_cli.main", "serve"]
SERVICES = ("imagebuilder", "provisioner", "addons", "kubeapi", "beat")
POOLS = [
    {"name": "cp", "role": "controlPlane", "count": 1, "instanceType": "medium", "zones": ["local-1a"]},
    {"name": "w", "role": "worker", "count": 2, "instanceType": "medium", "zones": ["local-1a", "local-1b"]},
]
PROFILE = {"name": "bench", "layers": [{"pack": "ubuntu-22.04", "version": "1.0.0"},
                                       {"pack": "kubernetes", "version": "1.32.1"}]}  # fmt: skip


class Fleet:
    def __init__(self, env: dict[str, str], api_port: int | None = None, profile: dict | None = None):
        self.env = env = {**env, "STRATA_KUBEAPI_URL": f"https://127.0.0.1:{free_port()}"}
        self.procs: list[subprocess.Popen] = []
        port = api_port or free_port()
        self.api = f"http://127.0.0.1:{port}"
        self.start(["api"], {"STRATA_API_PORT": str(port)})
        with psycopg.connect(env["STRATA_DATABASE_URL"], row_factory=dict_row) as conn:
            conn.execute("UPDATE lc_regions SET vcpu_quota = 1000000")
            token = create_token(conn, "bench", "admin")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.session.get(f"{self.api}/readyz", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the API did not start")
            time.sleep(0.2)
        self.profile = self.session.post(f"{self.api}/v1/profiles", json=profile or PROFILE, timeout=30).json()["id"]
        self.account = self.session.post(
            f"{self.api}/v1/cloudaccounts", json={"name": "lab", "cloud": "local"}, timeout=30
        ).json()["id"]
        self.workers: list[subprocess.Popen] = []

    def start(self, args: list[str], extra: dict[str, str]) -> subprocess.Popen:
        """Start `strata serve <args>`; its database connections name it (pg_stat_activity's application_name)."""
        url = self.env["STRATA_DATABASE_URL"]
        named = f"{url}{'&' if '?' in url else '?'}application_name=strata-{args[0]}"
        env = {**self.env, "STRATA_DATABASE_URL": named, **extra}
        proc = subprocess.Popen([*STRATA, *args], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        self.procs.append(proc)
        return proc

    def workers_with(self, scale: float) -> None:
        """(Re)start the workers, the Kubernetes API emulator and beat with this local cloud time scale."""
        for proc in self.workers:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
        extra = {"STRATA_LOCALCLOUD_TIME_SCALE": str(scale), "STRATA_WORKER_CONCURRENCY": CONCURRENCY}
        self.workers = [self.start([service], extra) for service in SERVICES]

    def create(self, name: str, profile: str | None = None, region: str = "local-1", pools: list | None = None,
               **more: Any) -> str:  # fmt: skip
        pools = pools or [{**pool, "zones": [f"{region}{zone[-1]}" for zone in pool["zones"]]} for pool in POOLS]
        body = {"name": name, "profile": {"id": profile or self.profile}, "cloudAccount": self.account,
                "cloud": {"region": region}, "pools": pools, **more}  # fmt: skip
        response = self.session.post(f"{self.api}/v1/clusters", json=body, timeout=60)
        response.raise_for_status()
        return response.json()["id"]

    def value(self, sql: str, *args: object) -> Any:
        """The single value a query returns."""
        with psycopg.connect(self.env["STRATA_DATABASE_URL"], autocommit=True) as conn:
            return conn.execute(sql, args).fetchone()[0]

    def running(self, ids: list[str]) -> int:
        return self.value("SELECT count(*) FROM clusters WHERE id = ANY(%s::uuid[]) AND phase = 'Running'", ids)

    def mean_time_to_running(self, ids: list[str]) -> float:
        """Mean seconds from a cluster's creation to the end of its last step."""
        return self.value(
            "SELECT avg(extract(epoch FROM done - c.created_at))::float FROM clusters c JOIN LATERAL"
            " (SELECT max(finished_at) AS done FROM steps WHERE cluster_id = c.id) s ON true"
            " WHERE c.id = ANY(%s::uuid[])",
            ids,
        )

    def mean_time_after_nodes(self, ids: list[str]) -> float:
        """Mean seconds from a cluster's last node step finishing to its last step finishing."""
        return self.value(
            "SELECT avg(after)::float FROM (SELECT extract(epoch FROM max(finished_at) - max(finished_at)"
            " FILTER (WHERE name LIKE 'ensure_node/%%')) AS after FROM steps"
            " WHERE cluster_id = ANY(%s::uuid[]) GROUP BY cluster_id) per_cluster",
            ids,
        )

    def until_running(self, ids: list[str], timeout: float = 3600) -> float:
        start = time.perf_counter()
        while self.running(ids) < len(ids):
            if time.perf_counter() - start > timeout:
                raise TimeoutError("clusters did not reach Running")
            time.sleep(0.05)
        return time.perf_counter() - start

    def delete_all(self, ids: list[str], timeout: float = 3600) -> float:
        """Delete the clusters; seconds until every one is gone."""
        start = time.perf_counter()
        for cluster in ids:
            self.session.delete(f"{self.api}/v1/clusters/{cluster}", timeout=60).raise_for_status()
        while self.value("SELECT count(*) FROM clusters WHERE id = ANY(%s::uuid[]) AND deleted_at IS NULL", ids):
            if time.perf_counter() - start > timeout:
                raise TimeoutError("clusters were not deleted")
            time.sleep(0.05)
        return time.perf_counter() - start

    def one(self, name: str) -> float:
        start = time.perf_counter()
        cluster = self.create(name)
        self.until_running([cluster])
        return time.perf_counter() - start

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait()


def steps_succeeded(env: dict[str, str]) -> int:
    with psycopg.connect(env["STRATA_DATABASE_URL"]) as conn:
        return conn.execute("SELECT count(*) FROM steps WHERE status = 'succeeded'").fetchone()[0]


def main() -> None:
    if "--cloud" in sys.argv:
        return stand_in_cloud(sys.argv[sys.argv.index("--cloud") + 1])
    with bench_env() as env:
        fleet = Fleet(env)
        try:
            fleet.workers_with(0.0)
            fleet.one("warm-up")
            print(f"machine: {os.cpu_count()} cores; image builder, provisioner, add-ons ({CONCURRENCY} processes "
                  f"each), beat, emulator, API {fleet.api}; the warm-up cluster built the image the others "
                  "reuse")  # fmt: skip
            empty = fleet.one("first")
            steps_before = steps_succeeded(env)
            start = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                ids = list(pool.map(fleet.create, [f"c{i}" for i in range(CLUSTERS)]))
            submitted = time.perf_counter() - start
            elapsed = submitted + fleet.until_running(ids)
            steps = steps_succeeded(env) - steps_before
            print(f"(a) {CLUSTERS} clusters (1+2 nodes), time scale 0: all Running in {elapsed:.1f} s "
                  f"(API accepted them in {submitted:.1f} s); {CLUSTERS / elapsed * 60:.0f} clusters/min; "
                  f"{steps / elapsed:.0f} steps/s")  # fmt: skip
            full = fleet.one("last")
            print(f"(b) one more cluster: {empty:.2f} s with an empty fleet, {full:.2f} s with {CLUSTERS + 2} "
                  f"clusters present; ratio {full / empty:.2f}")  # fmt: skip
            scale = 0.02
            model = LatencyModel(scale)
            critical = model.seconds("network") + model.seconds("load_balancer") + 2 * model.seconds("instance")
            fleet.workers_with(scale)
            fleet.one("warm-up-scaled")  # the restarted workers are up
            start = time.perf_counter()
            with ThreadPoolExecutor(10) as pool:
                ids = list(pool.map(fleet.create, [f"real{i}" for i in range(10)]))
            fleet.until_running(ids)
            measured = time.perf_counter() - start
            each = fleet.mean_time_to_running(ids)
            print(f"(c) 10 clusters at time scale {scale}: critical path of the model {critical:.2f} s; first request "
                  f"to last Running {measured:.2f} s, ratio {measured / critical:.2f}; mean cluster creation to "
                  f"Running {each:.2f} s, ratio {each / critical:.2f} (target <= 1.10), of which "
                  f"{fleet.mean_time_after_nodes(ids):.2f} s after the last node (prune_packs, "
                  "finalize_create)")  # fmt: skip
        finally:
            fleet.stop()


def stand_in_cloud(cloud: str) -> None:
    """N clusters on a real driver against its stand-in: time to all Running, and the cloud API calls per
    cluster by operation (the warm-up cluster that builds the image is not counted), then per delete."""
    import tempfile
    from collections import Counter
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from aws_support import aws_account, start_moto, start_sshd
    from azure_support import ROOMY_QUOTA, azure_account, start_arm

    clusters = int(os.environ.get(f"BENCH_{cloud.upper()}_CLUSTERS", "50" if cloud == "aws" else "20"))
    region, pools = STAND_INS[cloud]
    with bench_env() as env, tempfile.TemporaryDirectory() as folder:
        sshd_proc, sshd = start_sshd(Path(folder) / "sshd")
        if cloud == "aws":
            stand_in_proc, stand_in = start_moto(Path(folder), sshd)
            account, what = aws_account(stand_in, sshd, [region]), "moto_server + wrapper"
        else:
            stand_in_proc, stand_in = start_arm(Path(folder), sshd)
            stand_in.quota(region, ROOMY_QUOTA)
            account, what = azure_account(stand_in, sshd), "the ARM stand-in"
        fleet = Fleet(env)
        try:
            fleet.account = fleet.session.post(f"{fleet.api}/v1/cloudaccounts", json={**account, "name": cloud},
                                               timeout=60).json()["id"]  # fmt: skip
            fleet.workers_with(0.0)
            fleet.until_running([fleet.create("warm-up", region=region, pools=pools)])
            before = Counter(stand_in.calls())
            start = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                ids = list(pool.map(lambda n: fleet.create(n, region=region, pools=pools),
                                    [f"c{i}" for i in range(clusters)]))  # fmt: skip
            elapsed = time.perf_counter() - start + fleet.until_running(ids)
            calls = Counter(stand_in.calls()) - before
            total = sum(calls.values())
            print(f"{cloud} ({what}, {os.cpu_count()} cores, workers {CONCURRENCY} processes each): "
                  f"{clusters} clusters (1+2 nodes, image reused) all Running in {elapsed:.1f} s; "
                  f"{total / clusters:.1f} API calls per cluster to create:")  # fmt: skip
            for action, count in calls.most_common():
                print(f"  {action:40} {count / clusters:6.2f}")
            before = Counter(stand_in.calls())
            elapsed = fleet.delete_all(ids)
            calls = Counter(stand_in.calls()) - before
            print(f"deleted in {elapsed:.1f} s; {sum(calls.values()) / clusters:.1f} API calls per cluster to delete")
        finally:
            fleet.stop()
            for proc in (stand_in_proc, sshd_proc):
                proc.terminate()
                proc.wait()


STAND_INS = {  # cloud: (region, pools of 1 control-plane node and 2 workers)
    "aws": ("us-east-1", [
        {"name": "cp", "role": "controlPlane", "count": 1, "instanceType": "m5.large", "zones": ["us-east-1a"]},
        {"name": "w", "role": "worker", "count": 2, "instanceType": "t3.large", "zones": ["us-east-1a", "us-east-1b"]},
    ]),
    "azure": ("eastus", [
        {"name": "cp", "role": "controlPlane", "count": 1, "instanceType": "Standard_D2s_v5", "zones": ["1"]},
        {"name": "w", "role": "worker", "count": 2, "instanceType": "Standard_D2s_v5", "zones": ["1", "2"]},
    ]),
}  # fmt: skip


if __name__ == "__main__":
    main()
