"""The drivers under the conformance suite, each with the few levers a test needs that the driver
protocol has no business offering (a quota, an injected refusal). AWS, vSphere and Azure join here
on their stand-ins."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
import requests
from psycopg.rows import dict_row

from helpers import wait_answering
from strata_cli.embedded import free_port
from strata_common.clouds.driver import CloudDriver
from strata_common.db.pool import open_pool
from strata_localcloud import admin
from strata_localcloud.cloud import LatencyModel, LocalCloud

TESTS = Path(__file__).resolve().parents[1]
AWS_QUOTA_MESSAGE = (
    "You have requested more vCPU capacity than your current vCPU limit of 32 allows for the instance bucket that "
    "the specified instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to request "
    "an adjustment to this limit."
)


@dataclass
class DriverUnderTest:
    name: str
    driver: CloudDriver
    region: str
    other_region: str
    zones: list[str]
    instance_type: str
    image: str  # an image the region has

    refuse: Callable[[str, str, str, int], None]
    exhaust: Callable[[], None]
    sdk_attempts: int = 1  # how often the driver's SDK tries a throttled call itself
    lag: Callable[[float], None] = lambda seconds: None  # new instances stay invisible that long

    def exhaust_quota(self) -> None:
        """The next launch exceeds the account's vCPU quota."""
        self.exhaust()

    def refuse_next(self, action: str, code: str, message: str, count: int = 1) -> None:
        self.refuse(action, code, message, count)


@pytest.fixture(params=["local", "aws"])
def cloud(request) -> Iterator[DriverUnderTest]:
    yield request.getfixturevalue(f"{request.param}_cloud")


@pytest.fixture
def local_cloud(database_url) -> Iterator[DriverUnderTest]:
    def admin_call(fn: Any, *args: Any) -> Any:
        with psycopg.connect(database_url, row_factory=dict_row) as conn:
            return fn(conn, *args)

    def exhaust() -> None:
        used = next(r["vcpus_used"] for r in admin_call(admin.list_regions) if r["name"] == "local-1")
        admin_call(admin.set_quota, "local-1", used)

    pool = open_pool(database_url, max_size=4)
    yield DriverUnderTest("local", LocalCloud(pool, LatencyModel(0)), "local-1", "local-2", ["local-1a", "local-1b"],
                          "small", "ubuntu-22.04", lambda *fault: admin_call(admin.add_fault, *fault),
                          exhaust)  # fmt: skip
    pool.close()


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory) -> Iterator[str]:
    """moto_server behind our wrapper (tests/moto_support.py), one per test session."""
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, str(TESTS / "moto_support.py"), str(port)], stdout=log,
                            stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_answering(f"{url}/_strata/calls", "moto_server")
    yield url
    proc.terminate()
    proc.wait(10)
    log.close()


@pytest.fixture
def aws_cloud(moto_url) -> DriverUnderTest:
    from strata_aws.driver import ATTEMPTS, AwsCloud

    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    driver = AwsCloud(session, ["us-east-1", "us-west-2"], endpoint_url=moto_url)
    image = session.client("ec2", endpoint_url=moto_url).describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

    def refuse(action: str, code: str, message: str, count: int = 1) -> None:
        status = 503 if code == "RequestLimitExceeded" else 400
        fault = {"action": action, "code": code, "message": message, "status": status, "count": count}
        requests.post(f"{moto_url}/_strata/faults", json=fault, timeout=10).raise_for_status()

    return DriverUnderTest("aws", driver, "us-east-1", "us-west-2", ["us-east-1a", "us-east-1b"], "t3.micro", image,
                           refuse, lambda: refuse("RunInstances", "VcpuLimitExceeded", AWS_QUOTA_MESSAGE),
                           sdk_attempts=ATTEMPTS,
                           lag=lambda seconds: requests.post(f"{moto_url}/_strata/lag", json={"seconds": seconds},
                                                             timeout=10).raise_for_status())  # fmt: skip
