"""The AWS driver when half of all calls are throttled (moto_server behind our wrapper, refusing a
random half of every action with RequestLimitExceeded): what a cluster's infrastructure and first
node need is made all the same, each through the retries a step makes, with no retry storm.

Bound: the throttled run makes at most 3 times the calls of the same run unthrottled. With half the
calls refused about 2 attempts per call are expected; botocore tries a call up to 4 times (adaptive
mode, which also slows the client down while it is throttled), then the step fails and is retried
by the engine after its backoff. The engine's convergence under throttling, through the API, is
covered on the local cloud (tests/e2e/test_provisioning.py)."""

from __future__ import annotations

import time
import uuid
from collections import Counter

from aws_support import LATEST_JAMMY

from strata_aws.driver import AwsCloud
from strata_common.clouds.driver import CloudError, LaunchSpec

GROUPS = {
    "load-balancer": [{"protocol": "tcp", "ports": "6443", "cidrs": ["0.0.0.0/0"]}],
    "control-plane": [{"protocol": "tcp", "ports": "6443", "from": ["load-balancer", "control-plane"]}],
}


def create(driver: AwsCloud, cluster: str) -> int:
    """A network, groups, a load balancer and a node registered with it, each call retried as a step
    is until it succeeds; how many attempts failed."""
    failures = 0

    def step(call):
        nonlocal failures
        while True:
            try:
                return call()
            except CloudError as refused:
                assert refused.kind == "throttled" and not refused.user_fixable, refused
                failures += 1
                time.sleep(0.2)  # the step's backoff

    tags = {"strata:cluster": cluster}
    network = step(lambda: driver.ensure_network("us-east-1", "10.0.0.0/16", ["us-east-1a"], tags, f"{cluster}/n"))
    groups = step(lambda: driver.ensure_security_groups("us-east-1", network.id, GROUPS, tags, f"{cluster}/g"))
    balancer = step(lambda: driver.ensure_load_balancer("us-east-1", network.id, 6443, tags, f"{cluster}/lb",
                                                        (groups["load-balancer"].id,)))  # fmt: skip
    subnet = network.spec["subnets"]["control-plane"]["us-east-1a"]
    launch = LaunchSpec("us-east-1", "us-east-1a", "m5.large", LATEST_JAMMY, "", tags, f"{cluster}/cp-0", subnet,
                        (groups["control-plane"].id,))  # fmt: skip
    node = step(lambda: driver.run_instance(launch))
    step(lambda: driver.register_targets(balancer.id, [node.id]))
    return failures


def owned(moto, cluster: str) -> Counter[str]:
    return Counter(
        r.kind for r in AwsCloud(moto.session(), ["us-east-1"], moto.url).list_owned({"strata:cluster": cluster})
    )


def test_half_of_all_calls_throttled_still_converges_without_a_retry_storm(moto):
    calm, stormy = uuid.uuid4().hex, uuid.uuid4().hex
    before = Counter(moto.calls())
    create(AwsCloud(moto.session(), ["us-east-1"], moto.url), calm)
    baseline = sum((Counter(moto.calls()) - before).values())
    moto.refuse("*", "RequestLimitExceeded", "Request limit exceeded.", rate=0.5)
    try:
        before = Counter(moto.calls())
        failures = create(AwsCloud(moto.session(), ["us-east-1"], moto.url), stormy)
        throttled = sum((Counter(moto.calls()) - before).values())
    finally:
        moto.clear_faults()
    assert owned(moto, stormy) == owned(moto, calm)  # the same resources, once each: no duplicate from a retry
    assert throttled <= 3 * baseline, (throttled, baseline, failures)
