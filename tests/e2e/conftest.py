"""The e2e tier: each module shares one stack (database, Redis database, API process and whatever
workers its tests start on it); each test works in projects of its own, so tests stay apart without
paying for a stack each. A test marked `own_stack` gets a fresh database, Redis database and API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from api_support import Client, make_token
from aws_support import aws_account
from engine_support import engine_env, wait_worker
from kube_support import start_kubeapi

from helpers import STRATA, free_port, start_api
from strata_common.queues import SERVICES


@pytest.fixture
def own_stack(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker("own_stack") is not None


@pytest.fixture
def database_url(request, own_stack, module_stack) -> str:
    if own_stack:
        return request.getfixturevalue("fresh_database_url")
    return module_stack[0]["STRATA_DATABASE_URL"]


@pytest.fixture
def redis_url(request, own_stack, module_stack) -> str:
    if own_stack:
        return request.getfixturevalue("fresh_redis_url")
    return module_stack[0]["STRATA_REDIS_URL"]


@pytest.fixture
def strata_env(request, own_stack, module_stack, database_url, redis_url, tmp_path) -> dict[str, str]:
    if own_stack:
        return request.getfixturevalue("fresh_strata_env")
    return module_stack[0]


@pytest.fixture(scope="module")
def module_api(module_stack) -> str:
    env, processes = module_stack
    return start_api(processes, env)


@pytest.fixture
def api_base(request, own_stack, processes, strata_env) -> str:
    if own_stack:
        return start_api(processes, strata_env)
    return request.getfixturevalue("module_api")


@pytest.fixture
def projects() -> tuple[str, str]:
    """Two projects of this test's own."""
    tag = uuid.uuid4().hex[:8]
    return f"alpha-{tag}", f"beta-{tag}"


@pytest.fixture
def clients(api_base, database_url, projects) -> dict[str, Client]:
    """admin, operator and viewer of the test's project alpha; admin of its project beta; and no token."""
    alpha, beta = projects
    return {
        "admin": Client(api_base, make_token(database_url, alpha, "admin")),
        "operator": Client(api_base, make_token(database_url, alpha, "operator")),
        "viewer": Client(api_base, make_token(database_url, alpha, "viewer")),
        "other": Client(api_base, make_token(database_url, beta, "admin")),
        "anonymous": Client(api_base, None),
    }


def start_fleet(processes, env: dict[str, str]) -> dict[str, str]:
    """Image builder, provisioner, add-ons worker with the emulator, and beat on an instant local cloud.
    Each worker service answers /metrics on a free port, kept in the returned env as METRICS_PORT_<service>."""
    env = engine_env(env, STRATA_LOCALCLOUD_TIME_SCALE=env.get("STRATA_LOCALCLOUD_TIME_SCALE", "0"))
    env.update({f"METRICS_PORT_{service}": str(free_port()) for service in SERVICES})
    for service in SERVICES:  # started together, then waited for: they boot in parallel
        own = {"STRATA_METRICS_PORT": env[f"METRICS_PORT_{service}"]}
        processes.start(service, [*STRATA, "serve", service], {**env, **own})
    processes.start("beat", [*STRATA, "serve", "beat"], env)
    start_kubeapi(processes, env)
    for service in SERVICES:
        wait_worker(env, service)
    return env


@pytest.fixture(scope="module")
def module_fleet(request, module_stack, module_api) -> dict[str, str]:
    env, processes = module_stack
    return start_fleet(processes, {**env, **getattr(request.module, "FLEET_ENV", {})})


@pytest.fixture
def fleet_env(request, own_stack, processes, strata_env) -> dict[str, str]:
    """The environment of a running fleet: the module's, or the test's own when it is marked `own_stack`
    (a module's FLEET_ENV adds to either)."""
    if own_stack:
        return start_fleet(processes, {**strata_env, **getattr(request.module, "FLEET_ENV", {})})
    return request.getfixturevalue("module_fleet")


@pytest.fixture
def aws(clients, moto, sshd) -> Iterator[str]:
    """An AWS account (on moto_server, see tests/aws_support.py) in the test's project; faults the
    test injected into moto are cleared afterwards."""
    body = {"name": "aws-lab", **aws_account(moto, sshd, ["us-east-1"])}
    account = clients["operator"].post("/v1/cloudaccounts", body)
    assert account.status_code == 201, account.text
    yield account.json()["id"]
    moto.clear_faults()
