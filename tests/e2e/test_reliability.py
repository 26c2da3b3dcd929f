"""A control plane's weekly life, tried for real: its PostgreSQL restarted, its Redis killed and down a
while, its workers rolled one by one, while clusters are being created. The module runs its own
PostgreSQL and Redis servers (not the suite's) so that it can stop and start them."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pgserver
import psycopg
import pytest
import requests
from api_support import LOCAL_PROFILE, Client, make_token
from conftest import start_fleet
from pgserver._commands import pg_ctl

from helpers import Processes, print_logs, stack_env, start_api, wait_until, write_pack
from strata_cli.database import prepare_database
from strata_cli.embedded import free_port, redis_command, wait_for_redis

LIVE = "SELECT count(*) FROM clusters WHERE id = %s AND deleted_at IS NULL"
SMALL = [{"name": "cp", "role": "controlPlane", "count": 1, "instanceType": "medium", "zones": ["local-1a"]},
         {"name": "w", "role": "worker", "count": 1, "instanceType": "medium", "zones": ["local-1a"]}]  # fmt: skip


@dataclass
class Stack:
    """Servers, processes and an admin's client of this module's own control plane."""

    root: Path
    postgres: pgserver.PostgresServer
    redis_argv: list[str]
    redis: subprocess.Popen
    env: dict[str, str]
    processes: Processes
    client: Client
    body: dict = field(default_factory=dict)

    def stop_postgres(self) -> None:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.postgres.pgdata, user=self.postgres.system_user)

    def start_postgres(self) -> None:
        """Start it again with the options it had (pg_ctl keeps them in postmaster.opts)."""
        pg_ctl(["-w", "-l", str(self.postgres.log), "restart"], pgdata=self.postgres.pgdata,
               user=self.postgres.system_user)  # fmt: skip

    def kill_redis(self) -> None:
        self.redis.send_signal(signal.SIGKILL)
        self.redis.wait()

    def start_redis(self) -> None:
        self.redis = subprocess.Popen(self.redis_argv, stdout=subprocess.DEVNULL)
        wait_for_redis(self.env["STRATA_REDIS_URL"])

    def create(self, count: int, prefix: str) -> list[str]:
        return [self.client.post("/v1/clusters", {**self.body, "name": f"{prefix}-{n}"}).json()["id"]
                for n in range(count)]  # fmt: skip

    def sql(self, query: str, *args) -> list[tuple]:
        with psycopg.connect(self.env["STRATA_DATABASE_URL"], autocommit=True) as conn:
            cursor = conn.execute(query, args)
            return cursor.fetchall() if cursor.description else []

    def all_running(self, ids: list[str], timeout: float = 240) -> None:
        def done():
            return self.sql("SELECT count(*) FROM clusters WHERE id = ANY(%s::uuid[]) AND phase = 'Running'",
                            ids)[0][0] == len(ids)  # fmt: skip

        wait_until(done, timeout=timeout, interval=0.5, message=f"{len(ids)} clusters Running")


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    # Not under pytest's base folder, which another pytest run makes 0700 again: when the tests run as
    # root, the server runs as a user of its own and must reach its data directory.
    root = Path(tempfile.mkdtemp(prefix="strata-test-reliability-"))
    root.chmod(0o755)
    postgres = pgserver.get_server(root / "pgdata", cleanup_mode="stop")
    with psycopg.connect(postgres.get_uri(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE strata")
    database_url = postgres.get_uri("strata")
    prepare_database(database_url)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE lc_regions SET vcpu_quota = 100000")  # the module creates a few dozen clusters
    port = free_port()
    redis_argv = redis_command(root, port)
    redis_server = subprocess.Popen(redis_argv, stdout=subprocess.DEVNULL)
    env = {**stack_env(database_url, f"redis://127.0.0.1:{port}/0", root / "state"), "STRATA_RETENTION_SECONDS": "0"}
    wait_for_redis(env["STRATA_REDIS_URL"])
    processes = Processes(root)
    stack = None
    try:
        client = Client(start_api(processes, env), make_token(database_url, "ops", "admin"))
        stack = Stack(root, postgres, redis_argv, redis_server, start_fleet(processes, env), processes, client)
        profile = client.post("/v1/profiles", LOCAL_PROFILE).json()["id"]
        account = client.post("/v1/cloudaccounts", {"name": "lab", "cloud": "local"}).json()["id"]
        stack.body = {"profile": {"id": profile}, "cloudAccount": account, "cloud": {"region": "local-1"},
                      "pools": SMALL}  # fmt: skip
        yield stack
    finally:
        processes.kill_all()
        (stack.redis if stack else redis_server).kill()
        postgres.cleanup()
        if request.session.testsfailed:
            print_logs(root)
        shutil.rmtree(root, ignore_errors=True)


class Prober(threading.Thread):
    """Reads and writes through the API without pause; records (when, what, status) of every answer."""

    def __init__(self, stack: Stack, cluster: str):
        super().__init__(daemon=True)
        self.stack, self.cluster = stack, cluster
        self.answers: list[tuple[float, float, str, int, str]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        client = self.stack.client
        calls = {
            "list": lambda: client.get("/v1/clusters"),
            "get": lambda: client.get(f"/v1/clusters/{self.cluster}"),
            "events": lambda: client.get(f"/v1/clusters/{self.cluster}/events?limit=5"),
            "write": lambda: client.post("/v1/profiles", {**LOCAL_PROFILE, "name": f"probe-{time.monotonic_ns()}"}),
            "readyz": lambda: requests.get(f"{client.base}/readyz", timeout=30),
        }
        while not self.stopping.is_set():
            for what, call in calls.items():
                sent = time.monotonic()
                response = call()
                self.answers.append((sent, time.monotonic(), what, response.status_code, response.text[:300]))
            time.sleep(0.05)

    def stop(self) -> list[tuple[float, float, str, int, str]]:
        self.stopping.set()
        self.join(60)
        return self.answers


class Stream(threading.Thread):
    """An open event stream of one cluster; the ids it delivered, in order."""

    def __init__(self, stack: Stack, cluster: str):
        super().__init__(daemon=True)
        self.ids: list[int] = []
        self.response = stack.client.get(f"/v1/clusters/{cluster}/events/stream", stream=True)
        assert self.response.status_code == 200

    def run(self) -> None:
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line.startswith("id: "):
                    self.ids.append(int(line[4:]))
        except (requests.RequestException, AttributeError):  # close() pulled the connection from under it
            return

    def close(self) -> list[int]:
        self.response.close()
        self.join(10)
        return self.ids


def test_a_postgres_restart_costs_no_request_no_step_and_no_event(stack):
    ids = stack.create(10, "pg")
    stream = Stream(stack, ids[0])
    stream.start()
    prober = Prober(stack, ids[0])
    prober.start()
    time.sleep(2)
    down = time.monotonic()
    stack.stop_postgres()
    ready = requests.get(f"{stack.client.base}/readyz", timeout=30)
    assert ready.status_code == 503 and "database" in ready.json()["error"]["fields"]
    time.sleep(max(0.0, down + 3 - time.monotonic()))
    stack.start_postgres()
    up = time.monotonic()
    stack.all_running(ids)
    time.sleep(3)  # the stream catches up with the last events
    answers = prober.stop()
    delivered = stream.close()

    by_status = Counter(status for _, _, _, status, _ in answers)
    assert set(by_status) <= {200, 201, 503}, [a for a in answers if a[3] not in (200, 201, 503)][:3]
    # Only a request the outage overlapped may be refused: answered after the stop began, sent before it was back.
    late = [(sent - down, answered - down, up - down, *rest) for sent, answered, *rest in answers
            if rest[1] == 503 and not (answered >= down and sent <= up)]  # fmt: skip
    assert not late, late[:3]
    assert stack.sql("SELECT count(*) FROM steps WHERE cluster_id = ANY(%s::uuid[]) AND status <> 'succeeded'",
                     ids)[0][0] == 0  # fmt: skip
    events = [r[0] for r in stack.sql("SELECT seq FROM events WHERE cluster_id = %s ORDER BY seq", ids[0])]
    assert delivered == events
    print(f"answers during and after a PostgreSQL restart: {dict(by_status)}")


def test_redis_killed_then_down_for_a_while_loses_no_step(stack):
    ids = stack.create(5, "flush")
    time.sleep(1)
    stack.kill_redis()  # what was queued is gone with it
    stack.start_redis()
    stack.all_running(ids)

    stack.kill_redis()
    try:
        ready = requests.get(f"{stack.client.base}/readyz", timeout=30)
        assert ready.status_code == 503 and "redis" in ready.json()["error"]["fields"]
        assert stack.client.get(f"/v1/clusters/{ids[0]}").status_code == 200
        later = stack.create(3, "no-redis")  # committed; their steps wait for the re-drive
        assert len(later) == 3
        time.sleep(float(os.environ.get("RELIABILITY_REDIS_DOWN", "30")))
    finally:
        stack.start_redis()
    stack.all_running(later)


def test_workers_rolled_one_by_one_lose_and_repeat_nothing(stack):
    ids = stack.create(10, "roll")
    for proc in list(stack.processes.procs):
        service = Path(proc.log_path).stem  # type: ignore[attr-defined]
        if service not in ("imagebuilder", "provisioner", "addons", "beat") or proc.poll() is not None:
            continue
        proc.send_signal(signal.SIGTERM)  # Celery's warm shutdown: running tasks finish first
        proc.wait(60)
        stack.processes.procs.remove(proc)
        args = [*proc.args] if isinstance(proc.args, list) else proc.args
        stack.processes.start(service, args, stack.env)
        time.sleep(1)
    stack.all_running(ids)
    launches = stack.sql(
        "SELECT tags->>'strata:cluster', tags->>'strata:node', count(*) FROM lc_resources WHERE kind = 'instance'"
        " AND tags->>'strata:cluster' = ANY(%s) GROUP BY 1, 2 HAVING count(*) > 1",
        ids,
    )
    assert launches == []
    assert stack.sql("SELECT count(*) FROM steps WHERE cluster_id = ANY(%s::uuid[]) AND status <> 'succeeded'",
                     ids)[0][0] == 0  # fmt: skip


SLOW_ROLE = """---
- name: Slow | A customization longer than the shutdown grace
  ansible.builtin.command: sleep 7.5
  changed_when: true
"""
GRACE_SECONDS = 2  # a Deployment's terminationGracePeriodSeconds, shortened: SIGTERM, then SIGKILL


def test_a_step_longer_than_the_shutdown_grace_is_re_driven_after_its_lease(stack):
    registry = stack.root / "registry"
    write_pack(registry, "slow-os", "1.0.0", SLOW_ROLE)
    created = stack.client.post("/v1/registries", {"name": "slow", "source": str(registry)}).json()
    assert stack.client.post(f"/v1/registries/{created['id']}/sync").json()["failed"] == []
    profile = {"name": "slow", "layers": [{"pack": "slow-os", "version": "1.0.0"},
                                          {"pack": "kubernetes", "version": "1.32.1"}]}  # fmt: skip
    body = {**stack.body, "name": "slow", "profile": {"id": stack.client.post("/v1/profiles", profile).json()["id"]}}
    cluster = stack.client.post("/v1/clusters", body).json()["id"]
    image_step = "SELECT status, claimed_by, attempts FROM steps WHERE cluster_id = %s AND name = 'ensure_image'"
    wait_until(lambda: subprocess.run(["pgrep", "-fx", "sleep 7.5"], capture_output=True).returncode == 0,
               timeout=120, interval=0.2, message="the slow role running")  # fmt: skip
    status, first_worker, _ = stack.sql(image_step, cluster)[0]
    assert status == "running"

    builder = next(p for p in stack.processes.procs if Path(p.log_path).stem == "imagebuilder")  # type: ignore[attr-defined]
    builder.send_signal(signal.SIGTERM)  # warm shutdown: Celery waits for the running step...
    with pytest.raises(subprocess.TimeoutExpired):
        builder.wait(GRACE_SECONDS)  # ...longer than the grace, so it is killed with the step in flight
    os.killpg(builder.pid, signal.SIGKILL)
    killed = time.monotonic()
    builder.wait()
    stack.processes.procs.remove(builder)
    stack.processes.start("imagebuilder", builder.args, stack.env)

    stack.all_running([cluster])
    status, last_worker, attempts = stack.sql(image_step, cluster)[0]
    assert status == "succeeded" and last_worker != first_worker and attempts >= 2
    images = stack.sql("SELECT count(*) FROM lc_resources WHERE kind = 'image' AND deleted_at IS NULL"
                       " AND tags->>'strata:pack' = 'slow-os@1.0.0'")  # fmt: skip
    builders = stack.sql("SELECT count(*) FROM lc_resources WHERE kind = 'instance' AND deleted_at IS NULL"
                         " AND tags->>'strata:role' = 'image-builder'")  # fmt: skip
    assert (images[0][0], builders[0][0]) == (1, 0)
    print(f"image step killed {GRACE_SECONDS} s into a warm shutdown; cluster Running {time.monotonic() - killed:.1f} s"
          f" after the kill, the step run {attempts} times")  # fmt: skip


def test_fifty_create_delete_cycles_under_sigkills_leave_nothing(stack):
    size = "SELECT pg_database_size(current_database())"
    stack.sql("VACUUM FULL")
    before = stack.sql(size)[0][0]
    ids: list[str] = []
    done = threading.Event()

    bare = {"name": "bare", "layers": [{"pack": "ubuntu-22.04", "version": "1.0.0"},
                                       {"pack": "kubernetes", "version": "1.32.1"}]}  # fmt: skip
    body = {**stack.body, "profile": {"id": stack.client.post("/v1/profiles", bare).json()["id"]}}

    def lane(n: int) -> None:
        for cycle in range(5):
            cluster = stack.client.post("/v1/clusters", {**body, "name": f"cycle-{n}-{cycle}"}).json()["id"]
            ids.append(cluster)
            stack.all_running([cluster])
            assert stack.client.delete(f"/v1/clusters/{cluster}").status_code == 202
            wait_until(lambda c=cluster: stack.sql(LIVE, c)[0][0] == 0, timeout=240, interval=0.5, message="deleted")

    def killer() -> None:
        rng = random.Random(16)
        while not done.wait(rng.uniform(4, 8)):
            proc = rng.choice([p for p in stack.processes.procs if Path(p.log_path).stem in
                               ("imagebuilder", "provisioner", "addons") and p.poll() is None])  # fmt: skip
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            stack.processes.procs.remove(proc)
            stack.processes.start(Path(proc.log_path).stem, proc.args, stack.env)

    lanes = [threading.Thread(target=lane, args=(n,)) for n in range(10)]
    kills = threading.Thread(target=killer, daemon=True)
    for thread in [*lanes, kills]:
        thread.start()
    for thread in lanes:
        thread.join(600)
    done.set()
    kills.join(30)
    assert len(ids) == 50

    def purged():
        left = stack.sql(
            "SELECT (SELECT count(*) FROM clusters WHERE id = ANY(%s::uuid[]))"
            " + (SELECT count(*) FROM lc_resources WHERE deleted_at IS NULL AND tags->>'strata:cluster' = ANY(%s))"
            " + (SELECT count(*) FROM kube_changes WHERE cluster_id = ANY(%s::uuid[]))",
            ids,
            ids,
            ids,
        )
        return left[0][0] == 0  # fmt: skip

    wait_until(purged, timeout=120, interval=1, message="no resource left; the clusters and their API objects purged")
    assert stack.sql("SELECT count(*) FROM steps WHERE status <> 'succeeded'")[0][0] == 0
    stack.sql("VACUUM")
    after = stack.sql(size)[0][0]
    stack.sql("VACUUM FULL")  # what is kept, without the free space PostgreSQL holds on to for reuse
    kept = stack.sql(size)[0][0]
    print(f"50 create/delete cycles: database {before / 2**20:.1f} MiB before, {after / 2**20:.1f} MiB after"
          f" (files), {kept / 2**20:.1f} MiB kept")  # fmt: skip
    assert kept <= before * 1.10
