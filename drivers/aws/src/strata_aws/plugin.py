"""The AWS driver as the `aws` plugin (entry point group `strata.clouds`): sessions from an
account's access keys or an assumed role, the credential check at account creation, and drivers
kept per account while their credentials last."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from strata_aws.catalog import CATALOG
from strata_aws.driver import RETRIES, AwsCloud
from strata_aws.errors import cloud_error
from strata_common.clouds.driver import CloudDriver
from strata_common.clouds.registry import CloudAccount, KeptDrivers
from strata_common.config import Settings
from strata_common.db.types import DbPool

ROLE_SECONDS = 3600  # an assumed role's credentials last this long; a driver is renewed well before
DRIVER_SECONDS = ROLE_SECONDS / 2
CHECK = Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard", "total_max_attempts": 2})
# Typical seconds until EC2 and ELB report a resource ready (published guidance and common experience, not
# measured here: moto makes everything at once): a Network Load Balancer provisions in a few minutes, a
# copied or created AMI of an 8 GiB root volume takes several.
TYPICAL_SECONDS = {"network": 2.0, "security_group": 1.0, "load_balancer": 180.0, "instance": 40.0, "image": 480.0}
HOME_REGION = "us-east-1"  # where STS and DescribeRegions are asked when the account names no region


def _endpoint(account: CloudAccount) -> str | None:
    return account.config.get("endpointUrl") or None


def _home(account: CloudAccount) -> str:
    return str(account.config.get("defaultRegion") or HOME_REGION)


def session(account: CloudAccount) -> boto3.Session:
    """A boto3 session for the account: its key pair, or the role it names assumed with that key
    pair (or with the host's own credentials when it has none) and its external id."""
    creds = account.credentials
    base = boto3.Session(
        aws_access_key_id=creds.get("accessKeyId"),
        aws_secret_access_key=creds.get("secretAccessKey"),
        aws_session_token=creds.get("sessionToken"),
        region_name=_home(account),
    )
    if not creds.get("roleArn"):
        return base
    request: dict[str, Any] = {"RoleArn": creds["roleArn"], "RoleSessionName": f"strata-{account.id[:8]}",
                               "DurationSeconds": ROLE_SECONDS}  # fmt: skip
    if creds.get("externalId"):
        request["ExternalId"] = creds["externalId"]
    try:
        assumed = base.client("sts", endpoint_url=_endpoint(account), config=RETRIES).assume_role(**request)
    except (ClientError, BotoCoreError) as err:
        raise cloud_error(err) from None
    given = assumed["Credentials"]
    return boto3.Session(aws_access_key_id=given["AccessKeyId"], aws_secret_access_key=given["SecretAccessKey"],
                         aws_session_token=given["SessionToken"], region_name=_home(account))  # fmt: skip


class AwsPlugin:
    name = "aws"
    catalog = CATALOG

    def __init__(self) -> None:
        self._drivers = KeptDrivers(DRIVER_SECONDS)  # renewed before an assumed role would expire

    def driver(self, pool: DbPool, settings: Settings, account: CloudAccount) -> CloudDriver:
        regions = sorted({_home(account), *(account.config.get("regions") or CATALOG.regions)})
        return self._drivers.get(account, lambda: AwsCloud(session(account), regions, _endpoint(account),
                                                           account.config.get("builderSsh")))  # fmt: skip

    def check_account(self, account: CloudAccount) -> None:
        """Who the credentials are (STS GetCallerIdentity) and whether they may use EC2 (DescribeRegions)."""
        checked = session(account)
        try:
            checked.client("sts", endpoint_url=_endpoint(account), config=CHECK).get_caller_identity()
            checked.client("ec2", endpoint_url=_endpoint(account), config=CHECK).describe_regions()
        except (ClientError, BotoCoreError) as err:
            raise cloud_error(err) from None

    def api_server(self, cluster_id: str, endpoint: str, settings: Settings) -> tuple[str, str | None]:
        """The cluster's NLB answers for its API, with its own DNS name."""
        return endpoint, None

    def admin(self) -> None:
        return None

    def expected_seconds(self, kind: str, settings: Settings) -> float:
        return TYPICAL_SECONDS.get(kind, 0.0)

    def account_zones(self, account: CloudAccount) -> None:
        return None


plugin = AwsPlugin()
