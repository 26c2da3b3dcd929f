"""A control plane of a test module's own, whose PostgreSQL and Redis it can stop and start: servers,
processes and an admin's client (the reliability modules' `stack` fixture)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pgserver
import psycopg
import pytest
from api_support import LOCAL_PROFILE, Client, make_token
from conftest import start_fleet
from pgserver._commands import pg_ctl

from helpers import Processes, print_logs, stack_env, start_api, wait_until
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


def control_plane(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """A module's own control plane (its module-scoped `stack` fixture yields from it)."""
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
