"""The drivers under the conformance suite, each with the few levers a test needs that the driver
protocol has no business offering (a quota, an injected refusal), and the capabilities it has: a
test of security groups, zonal subnets or throttling runs on the drivers whose cloud has them (vSphere
has none of the three; Azure's subnets are regional)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from aws_support import LATEST_JAMMY, Moto
from azure_support import JAMMY as AZURE_JAMMY
from azure_support import QUOTA_WORDS, ROOMY_QUOTA, ArmStandIn
from psycopg.rows import dict_row
from vsphere_support import TEMPLATE, Vcsim

from strata_common.clouds.driver import CloudDriver
from strata_common.db.pool import open_pool
from strata_localcloud import admin
from strata_localcloud.cloud import LatencyModel, LocalCloud

JAMMY = {"imageOwner": "099720109477", "imageName": "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-*"}
EVERYTHING = frozenset({"security-groups", "subnets", "throttling"})
VSPHERE_QUOTA = ("capacity", "InsufficientMemoryResourcesFault", "insufficient")
VSPHERE_QUOTA_MESSAGE = "The available Memory resources in the parent resource pool are insufficient for the operation."
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
    reference: dict[str, Any] = field(default_factory=dict)  # an OS pack's image reference, resolving to `image`
    capabilities: frozenset[str] = EVERYTHING
    quota: tuple[str, str, str] = ("quota", "VcpuLimitExceeded", "vCPU limit")  # kind, code, words, as the cloud says

    def exhaust_quota(self) -> None:
        """The next launch exceeds the account's vCPU quota."""
        self.exhaust()

    def refuse_next(self, action: str, code: str, message: str, count: int = 1) -> None:
        self.refuse(action, code, message, count)


@pytest.fixture(params=["local", "aws", "vsphere", "azure"])
def cloud(request) -> Iterator[DriverUnderTest]:
    yield request.getfixturevalue(f"{request.param}_cloud")


@pytest.fixture(params=["local", "aws", "azure"])
def cloud_with_security_groups(request) -> Iterator[DriverUnderTest]:
    """The drivers whose cloud has security groups and subnets of its own, and throttles."""
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
                          exhaust, reference={"image": "ubuntu-22.04"})  # fmt: skip
    pool.close()


@pytest.fixture
def aws_cloud(moto: Moto) -> DriverUnderTest:
    from strata_aws.driver import ATTEMPTS, AwsCloud

    driver = AwsCloud(moto.session(), ["us-east-1", "us-west-2"], endpoint_url=moto.url)
    return DriverUnderTest("aws", driver, "us-east-1", "us-west-2", ["us-east-1a", "us-east-1b"], "t3.micro",
                           LATEST_JAMMY, moto.refuse,
                           lambda: moto.refuse("RunInstances", "VcpuLimitExceeded", AWS_QUOTA_MESSAGE),
                           sdk_attempts=ATTEMPTS, lag=moto.lag,
                           reference={"us-east-1": JAMMY})  # fmt: skip


@pytest.fixture
def vsphere_cloud(vcsim: Vcsim) -> Iterator[DriverUnderTest]:
    from strata_vsphere.driver import VsphereCloud
    from strata_vsphere.session import Endpoint, Session

    session = Session(Endpoint(vcsim.host, vcsim.port, vcsim.user, vcsim.password, verify=False))
    driver = VsphereCloud(session, {"control-plane": "DC0_DVPG0", "workers": "DC0_DVPG1"}, "10.20.0.10-10.20.0.250")
    reference = {"template": TEMPLATE}
    yield DriverUnderTest("vsphere", driver, "DC0", "DC1", ["DC0_C0", "DC0_C1"], "small",
                          driver.catalog_image("DC0", reference), lambda *fault: vcsim.refuse(*fault),
                          lambda: vcsim.refuse("CloneVM_Task", VSPHERE_QUOTA[1], VSPHERE_QUOTA_MESSAGE),
                          reference=reference, capabilities=frozenset(),
                          quota=VSPHERE_QUOTA)  # fmt: skip
    vcsim.clear_faults()
    session.close()


@pytest.fixture
def azure_cloud(arm: ArmStandIn) -> Iterator[DriverUnderTest]:
    from strata_azure.driver import AzureCloud
    from strata_azure.plugin import credential
    from strata_common.clouds.registry import CloudAccount

    account = CloudAccount("conformance", "azure", {"tenantId": arm.tenant, "authorityHost": arm.url,
                                                    "caBundle": arm.ca.read_text()},
                           {"clientId": arm.client, "clientSecret": arm.secret})  # fmt: skip
    driver = AzureCloud(credential(account), arm.subscription, ["eastus", "westeurope"], arm.url, str(arm.ca))
    arm.settings(pageSize=3)  # every list the driver reads comes in pages it must follow (nextLink)

    def refuse(action: str, code: str, message: str, count: int) -> None:
        """EC2's words for a refusal as ARM's: throttling is a 429 with Retry-After."""
        assert (action, code) == ("RunInstances", "RequestLimitExceeded")
        arm.refuse("PUT virtualMachines", "TooManyRequests", message, count, status=429, retry_after=1)

    yield DriverUnderTest("azure", driver, "eastus", "westeurope", ["1", "2"], "Standard_B2s",
                          driver.catalog_image("eastus", AZURE_JAMMY), refuse,
                          lambda: arm.quota("eastus", arm.usage()["eastus"]), sdk_attempts=driver.attempts,
                          reference=AZURE_JAMMY, capabilities=frozenset({"security-groups", "throttling"}),
                          quota=("quota", "OperationNotAllowed", QUOTA_WORDS))  # fmt: skip
    arm.clear_faults()
    arm.quota("eastus", ROOMY_QUOTA)
    arm.settings(pageSize=100)
