"""Clusters on the AWS driver under AWS's bad days: half of all calls throttled, a provisioner
SIGKILLed right after RunInstances answered and again in the middle of a delete (a module of its
own so that its minutes run beside the other AWS tests, not after them)."""

from __future__ import annotations

from collections import Counter

import pytest
from aws_support import aws_account
from conftest import start_fleet
from test_aws import NODES_ONLY, SMALL, create, delete_and_wait, owned, wait_phase


def test_half_of_all_calls_throttled_still_converges_without_a_retry_storm(clients, fleet_env, aws, moto):
    """Bound: a throttled run makes at most 4 times the calls of the same cluster unthrottled (with
    half the calls refused, about 2 attempts per call are expected; botocore tries each call up to
    4 times before the step's own backoff)."""
    op = clients["operator"]
    before = Counter(moto.calls())
    calm = create(op, aws, NODES_ONLY, SMALL[:1], name="calm")
    wait_phase(op, calm)
    baseline = sum((Counter(moto.calls()) - before).values())
    moto.refuse("*", "RequestLimitExceeded", "Request limit exceeded.", rate=0.5)
    before = Counter(moto.calls())
    stormy = create(op, aws, NODES_ONLY, SMALL[:1], name="stormy")
    wait_phase(op, stormy)
    throttled = sum((Counter(moto.calls()) - before).values())
    moto.clear_faults()
    assert throttled <= 4 * baseline, (throttled, baseline)
    for cluster_id in (calm, stormy):
        assert op.delete(f"/v1/clusters/{cluster_id}").status_code == 202
    for cluster_id in (calm, stormy):
        delete_and_wait(op, cluster_id, requested=True)
        assert owned(moto, cluster_id) == []


@pytest.mark.own_stack  # its workers kill themselves at a point
def test_a_provisioner_killed_after_run_instances_and_during_delete_leaks_nothing(
    clients, processes, strata_env, moto, sshd, tmp_path
):
    launched, deleting = tmp_path / "launched", tmp_path / "deleting"
    start_fleet(
        processes,
        {
            **strata_env,
            "STRATA_TEST_KILL_AT": f"ensure_node/workers-0@after-cloud-call@{launched},"
            f"delete_nodes@after-cloud-call@{deleting}",
        },
    )
    op = clients["operator"]
    account = op.post("/v1/cloudaccounts", {"name": "aws-lab", **aws_account(moto, sshd, ["us-east-1"])}).json()
    cluster_id = create(op, account["id"], NODES_ONLY, SMALL, name="killed")
    wait_phase(op, cluster_id)
    assert launched.exists()  # the provisioner died after RunInstances answered, before the step committed
    nodes = Counter(r.tags["strata:node"] for r in owned(moto, cluster_id) if r.kind == "instance")
    assert nodes == {"ensure_node/cp-0": 1, "ensure_node/workers-0": 1}
    delete_and_wait(op, cluster_id)
    assert deleting.exists() and owned(moto, cluster_id) == []
