"""A cluster on the AWS driver whose provisioner is SIGKILLed right after RunInstances answered and
again in the middle of its delete (a module of its own: it runs its own fleet, beside the other AWS
tests rather than after them)."""

from __future__ import annotations

from collections import Counter

import pytest
from aws_support import aws_account
from conftest import start_fleet
from test_aws import NODES_ONLY, SMALL, create, delete_and_wait, owned, wait_phase


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
