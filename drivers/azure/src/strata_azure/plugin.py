"""The Azure driver as the `azure` plugin (entry point group `strata.clouds`): an account is a service
principal (tenant, client id, client secret sealed) and the subscription it manages, checked at creation
by getting a token (azure-identity's ClientSecretCredential) and reading the subscription; drivers kept
per account. `endpointUrl` and `authorityHost` point an account at another cloud's ARM and identity
endpoints (a sovereign cloud, or a stand-in), `caBundle` at the CA that signs them."""

from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
from pathlib import Path
from typing import Any

from azure.core.exceptions import AzureError
from azure.core.rest import HttpRequest
from azure.identity import ClientSecretCredential
from azure.mgmt.resource.resources import ResourceManagementClient

from strata_azure.catalog import CATALOG
from strata_azure.driver import TYPICAL_SECONDS, AzureCloud
from strata_azure.errors import cloud_error
from strata_common.clouds.driver import INVALID, NOT_FOUND, CloudDriver, CloudError
from strata_common.clouds.registry import CloudAccount, KeptDrivers
from strata_common.config import Settings
from strata_common.db.types import DbPool

# The SDK logs every request's URL and headers at INFO: Strata's logs say what a step did, not each call.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
logging.getLogger("azure.identity").setLevel(logging.WARNING)
HOME_REGION = "eastus"
SUBSCRIPTION_API = "2022-12-01"
SCOPE = "https://management.azure.com/.default"


def verify(config: dict[str, Any]) -> str | bool:
    """How ARM's and the identity platform's certificates are checked: against `caBundle` (PEM, written once
    to a file named by its hash, as the SDK's transport wants a path), else the system's CAs."""
    bundle = config.get("caBundle")
    if not bundle:
        return True
    path = Path(tempfile.gettempdir()) / f"strata-azure-ca-{hashlib.sha256(bundle.encode()).hexdigest()[:16]}.pem"
    if not path.exists():
        part = path.with_suffix(f".{threading.get_ident()}")
        part.write_text(bundle)
        part.replace(path)
    return str(path)


def credential(account: CloudAccount) -> ClientSecretCredential:
    config, creds = account.config, account.credentials
    options: dict[str, Any] = {"connection_verify": verify(config)}
    if config.get("authorityHost"):  # another cloud's identity platform: no instance discovery at Microsoft's
        options.update(authority=config["authorityHost"], disable_instance_discovery=True)
    return ClientSecretCredential(str(config.get("tenantId", "")), creds.get("clientId", ""),
                                  creds.get("clientSecret", ""), **options)  # fmt: skip


class AzurePlugin:
    name = "azure"
    catalog = CATALOG

    def __init__(self) -> None:
        self._drivers = KeptDrivers()  # a driver's credential renews its own tokens

    def driver(self, pool: DbPool, settings: Settings, account: CloudAccount) -> CloudDriver:
        config = account.config
        home = str(config.get("defaultRegion") or HOME_REGION)
        return self._drivers.get(account, lambda: AzureCloud(
            credential(account), str(config["subscriptionId"]), sorted({home, *(config.get("regions") or
                                                                                CATALOG.regions)}),
            config.get("endpointUrl") or None, verify(config), config.get("builderSsh"), home))  # fmt: skip

    def check_account(self, account: CloudAccount) -> None:
        """A token for the service principal, then the subscription read with it (enabled, and the
        principal's to manage)."""
        config = account.config
        subscription = str(config.get("subscriptionId", ""))
        options: dict[str, Any] = {"connection_verify": verify(config), "retry_total": 1}
        if config.get("endpointUrl"):
            options.update(base_url=config["endpointUrl"], credential_scopes=[SCOPE])
        try:
            client = ResourceManagementClient(credential(account), subscription, **options)
            answer = client.send_request(HttpRequest("GET", f"/subscriptions/{subscription}",
                                                     params={"api-version": SUBSCRIPTION_API}))  # fmt: skip
            answer.raise_for_status()
        except AzureError as err:
            refused = cloud_error(err)
            if refused.kind == NOT_FOUND:
                raise CloudError(INVALID, refused.code, refused.message, setting="subscriptionId") from None
            raise refused from None
        state = answer.json().get("state")
        if state != "Enabled":
            raise CloudError(INVALID, "SubscriptionNotEnabled", f"subscription {subscription} is {state}",
                             setting="subscriptionId")  # fmt: skip

    def api_server(self, cluster_id: str, endpoint: str, settings: Settings) -> tuple[str, str | None]:
        """The cluster's load balancer answers for its API, under its public IP's DNS name."""
        return endpoint, None

    def admin(self) -> None:
        return None

    def expected_seconds(self, kind: str, settings: Settings) -> float:
        return TYPICAL_SECONDS.get(kind, 0.0)

    def account_zones(self, account: CloudAccount) -> None:
        return None


plugin = AzurePlugin()
