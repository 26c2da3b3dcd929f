"""The local cloud behaves like a cloud: idempotency tokens, async states, quotas, throttling, faults, ownership."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from psycopg.rows import dict_row

from strata_common.clouds import registry
from strata_common.clouds.driver import GONE, PENDING, READY, CloudError, LaunchSpec
from strata_common.config import load_settings
from strata_common.crypto import SecretBox
from strata_common.db.pool import open_pool
from strata_common.db.tokens import ensure_project
from strata_localcloud.admin import add_fault, list_regions, list_throttling, set_quota, set_throttling
from strata_localcloud.cloud import LatencyModel, LocalCloud

OWNER = {"strata:cluster": "c-1"}


def launch(region: str, zone: str, size: str, token: str) -> LaunchSpec:
    return LaunchSpec(region, zone, size, "ubuntu-22.04", "", OWNER, token)


@pytest.fixture
def cloud(database_url):
    pool = open_pool(database_url, max_size=8)
    yield LocalCloud(pool)
    pool.close()


def admin(database_url, fn, *args):
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return fn(conn, *args)


def test_regions_are_the_catalogs_and_the_driver_is_found_by_its_entry_point(database_url):
    assert {r["name"] for r in admin(database_url, list_regions)} == set(registry.catalog("local").regions)
    assert registry.plugins()["local"].catalog is registry.catalog("local")
    assert registry.plugins()["aws"].catalog is registry.catalog("aws")  # drivers/aws, by its entry point
    with pytest.raises(CloudError, match="UnsupportedCloud"):
        registry.plugin("gcp")


def test_a_token_answers_the_instance_it_first_created_even_under_concurrency(cloud):
    def once(_):
        return cloud.run_instance(launch("local-1", "local-1a", "medium", "step-7/cp-0"))

    with ThreadPoolExecutor(8) as pool:
        instances = list(pool.map(once, range(16)))
    assert len({i.id for i in instances}) == 1
    assert [r.id for r in cloud.list_owned(OWNER)] == [instances[0].id]
    other = cloud.run_instance(launch("local-1", "local-1b", "medium", "step-7/cp-1"))
    assert other.id != instances[0].id


def test_instances_are_pending_until_their_boot_latency_passes(database_url):
    pool = open_pool(database_url)
    cloud = LocalCloud(pool, LatencyModel(time_scale=0.02))  # 45 s x 0.02 = 0.9 s
    launched = cloud.run_instance(launch("local-1", "local-1a", "small", "t-1"))
    assert (launched.state, launched.native_state) == ("pending", "pending")
    deadline = time.monotonic() + 10
    while cloud.describe([launched.id])[0].state == PENDING:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    running = cloud.describe([launched.id])[0]
    assert (running.state, running.native_state) == (READY, "running")
    cloud.delete(launched.id)
    cloud.delete(launched.id)  # deleting twice is fine
    assert (cloud.describe([launched.id])[0].state, cloud.describe([launched.id])[0].native_state) == (
        GONE,
        "terminated",
    )
    pool.close()


def test_vcpu_quota_is_enforced_like_ec2_and_raising_it_unblocks(cloud, database_url):
    admin(database_url, set_quota, "local-2", 4)
    cloud.run_instance(launch("local-2", "local-2a", "medium", "q-1"))  # 2 vCPU
    cloud.run_instance(launch("local-2", "local-2a", "medium", "q-2"))  # 4 of 4
    with pytest.raises(CloudError) as err:
        cloud.run_instance(launch("local-2", "local-2b", "small", "q-3"))
    assert err.value.code == "VcpuLimitExceeded" and err.value.user_fixable
    assert "current vCPU limit of 4" in err.value.message
    admin(database_url, set_quota, "local-2", 8)
    assert cloud.run_instance(launch("local-2", "local-2b", "small", "q-3")).state == READY
    used = {r["name"]: r["vcpus_used"] for r in admin(database_url, list_regions)}
    assert used["local-2"] == 5


def test_injected_faults_fail_the_next_n_calls_of_that_action(cloud, database_url):
    admin(database_url, add_fault, "RunInstances", "RequestLimitExceeded", "Request limit exceeded.", 2)
    for _ in range(2):
        with pytest.raises(CloudError) as err:
            cloud.run_instance(launch("local-1", "local-1a", "small", "f-1"))
        assert err.value.code == "RequestLimitExceeded" and not err.value.user_fixable
    cloud.ensure_network("local-1", "10.0.0.0/16", ["local-1a"], OWNER, "net")  # other actions are unaffected
    assert cloud.run_instance(launch("local-1", "local-1a", "small", "f-1")).state == READY


def test_every_action_is_throttled_by_a_token_bucket_that_refills(cloud, database_url):
    assert {r["action"]: r["rate"] for r in admin(database_url, list_throttling)}["DescribeInstances"] == 100
    admin(database_url, set_throttling, "DescribeInstances", 0.5, 3)
    for _ in range(3):  # the burst
        cloud.describe([])
    with pytest.raises(CloudError) as err:
        cloud.describe([])
    assert (err.value.code, err.value.message) == ("RequestLimitExceeded", "Request limit exceeded.")
    assert not err.value.user_fixable
    cloud.list_owned(OWNER)  # buckets are per action
    deadline = time.monotonic() + 30
    while True:  # a refused call takes no token; one token comes back every 2 s
        try:
            cloud.describe([])
            break
        except CloudError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    admin(database_url, set_throttling, "DescribeInstances", 0, 1)  # rate 0: off
    for _ in range(20):
        cloud.describe([])


def test_networks_groups_balancers_and_images_are_owned_and_swept(cloud):
    network = cloud.ensure_network("local-1", "10.0.0.0/16", ["local-1a", "local-1b", "local-1c"], OWNER, "net")
    again = cloud.ensure_network("local-1", "10.0.0.0/16", ["local-1a", "local-1b", "local-1c"], OWNER, "net")
    assert again.id == network.id and [len(zones) for zones in network.spec["subnets"].values()] == [3, 3]
    rules = [{"protocol": "tcp", "ports": "6443", "from": ["workers"]}]
    group = cloud.ensure_security_groups("local-1", network.id, {"cp": rules, "workers": []}, OWNER, "sg")["cp"]
    balancer = cloud.ensure_load_balancer("local-1", network.id, 6443, OWNER, "lb")
    instance = cloud.run_instance(launch("local-1", "local-1a", "small", "i-1"))
    image = cloud.create_image(instance.id, {**OWNER, "strata:signature": "abc"}, "img")
    assert [i.id for i in cloud.find_images("local-1", {"strata:signature": "abc"})] == [image.id]
    copy = cloud.copy_image(image.id, "local-2", {"strata:copy": "1"}, "copy")
    assert copy.region == "local-2" and copy.spec["copiedFrom"] == image.id
    owned = {r.id for r in cloud.list_owned(OWNER)}
    subnets = [subnet for zones in network.spec["subnets"].values() for subnet in zones.values()]
    workers = next(r.id for r in cloud.list_owned({**OWNER, "strata:role": "workers"}, ("security_group",)))
    assert {network.id, group.id, workers, balancer.id, instance.id, image.id, copy.id, *subnets} == owned
    for resource_id in owned:
        cloud.delete(resource_id)
    assert cloud.list_owned(OWNER) == []
    assert cloud.list_owned({"strata:cluster": "someone-else"}) == []


def test_a_driver_is_built_for_its_account_whose_credentials_are_unsealed_once_and_never_shown(database_url):
    settings = load_settings({"STRATA_DATABASE_URL": database_url, "STRATA_REDIS_URL": "redis://127.0.0.1:1/0",
                              "STRATA_SECRET_KEY": "s" * 40})  # fmt: skip
    secret = {"token": "never-printed-1234"}
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        account_id = conn.execute(
            "INSERT INTO cloud_accounts (project_id, name, cloud, config, credentials)"
            " VALUES (%s, 'lab', 'local', '{}', %s) RETURNING id",
            (ensure_project(conn, "alpha"), SecretBox(settings.secret_key).seal(secret)),
        ).fetchone()["id"]
    pool = open_pool(database_url, max_size=2)
    account = registry.cloud_account(str(account_id), pool, settings)
    assert account.credentials == secret and "never-printed" not in repr(account)
    assert isinstance(registry.driver_for("local", str(account_id), pool, settings), LocalCloud)
    with pytest.raises(CloudError, match="AccountNotFound"):
        registry.cloud_account("6f1c1f4a-0000-4000-8000-000000000009", pool, settings)
    pool.close()
