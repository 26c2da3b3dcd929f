"""Cloud drivers as plugins: each cloud registers a `CloudPlugin` in the entry point group
`strata.clouds` under its cloud type, and product code reaches a cloud only through here.

A plugin gives its catalog, checks and builds a driver for a cloud account, and says where a
cluster's Kubernetes API answers for a client. An account on a stand-in cloud (moto, vcsim, ...)
may say `"kubernetes": "emulated"`: its clusters' APIs are then served by the local cloud's
Kubernetes API emulator, as the local cloud's always are.
An account's credentials are unsealed once per process and kept for ACCOUNT_SECONDS, so a rotated
key is picked up within a minute without a database read per step.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import Any, Protocol
from urllib.parse import urlsplit

from strata_common.clouds.catalog import Catalog
from strata_common.clouds.driver import INVALID, CloudDriver, CloudError
from strata_common.config import Settings
from strata_common.crypto import SecretBox
from strata_common.db.queries import accounts
from strata_common.db.types import DbPool

GROUP = "strata.clouds"
ACCOUNT_SECONDS = 60.0


@dataclass(frozen=True)
class CloudAccount:
    """What a driver is built from; the credentials never show in a repr (logs, tracebacks)."""

    id: str
    cloud: str
    config: dict[str, Any]
    credentials: dict[str, str] = field(repr=False, default_factory=dict)


class CloudPlugin(Protocol):
    name: str
    catalog: Catalog

    def driver(self, pool: DbPool, settings: Settings, account: CloudAccount) -> CloudDriver:
        """A driver for the account (stateless between calls; a process may keep it)."""

    def check_account(self, account: CloudAccount) -> None:
        """Ask the cloud whether it accepts the account's credentials and settings; a refusal is a
        CloudError (AUTH for the credentials)."""

    def api_server(self, cluster_id: str, endpoint: str, settings: Settings) -> tuple[str, str | None]:
        """(URL a client connects to, TLS server name to verify) for a cluster whose API endpoint is `endpoint`."""

    def admin(self) -> Any:
        """The cloud's own administration (a stand-in's faults and quotas), or None."""

    def expected_seconds(self, kind: str, settings: Settings) -> float:
        """The driver's latency model: seconds the cloud typically takes to make a resource of `kind`
        (network, security_group, load_balancer, instance, image) ready; a dry run's expected duration."""

    def account_zones(self, account: CloudAccount) -> dict[str, list[dict[str, Any]]] | None:
        """Regions -> their zones with what each offers, as the cloud reports them for this account
        (vSphere's compute clusters with their hosts and capacity); None when the catalog's are the
        account's (a public cloud's regions are everyone's)."""


@cache
def plugins() -> dict[str, CloudPlugin]:
    """Every installed cloud plugin by cloud type."""
    found = {}
    for entry in entry_points(group=GROUP):
        plugin = entry.load()
        if plugin.name != entry.name:
            raise RuntimeError(f"entry point {entry.name!r} of {GROUP} loads the plugin of {plugin.name!r}")
        found[entry.name] = plugin
    return found


def plugin(cloud: str) -> CloudPlugin:
    try:
        return plugins()[cloud]
    except KeyError:
        raise CloudError(INVALID, "UnsupportedCloud", f"no driver for the {cloud} cloud is installed") from None


def catalog(cloud: str) -> Catalog | None:
    """The cloud's regions and instance types (its plugin's), None for a cloud without an installed driver."""
    found = plugins().get(cloud)
    return found.catalog if found else None


_accounts: dict[str, tuple[float, CloudAccount]] = {}
_accounts_lock = threading.Lock()


def cloud_account(account_id: str, pool: DbPool, settings: Settings) -> CloudAccount:
    """The account with its credentials unsealed, read at most once per ACCOUNT_SECONDS per process."""
    with _accounts_lock:
        cached = _accounts.get(account_id)
    if cached and time.monotonic() - cached[0] < ACCOUNT_SECONDS:
        return cached[1]
    with pool.connection() as conn:
        row = accounts.account_row(conn, account_id)
    if row is None:
        raise CloudError(INVALID, "AccountNotFound", f"cloud account {account_id} does not exist")
    credentials = SecretBox(settings.secret_key).open(row["credentials"]) if row["credentials"] else {}
    account = CloudAccount(str(row["id"]), row["cloud"], row["config"], credentials)
    with _accounts_lock:
        _accounts[account_id] = (time.monotonic(), account)
    return account


EMULATED_NAME_SUFFIX = ".cluster.strata.invalid"  # never resolved: only asked for in the TLS handshake


class KeptDrivers:
    """A plugin's drivers kept per account and process (SDK clients are slow to make), made again when the
    account changes or, with `max_age`, once they are that many seconds old (an assumed role's expiry)."""

    def __init__(self, max_age: float | None = None):
        self.max_age = max_age
        self._kept: dict[str, tuple[float, CloudAccount, CloudDriver]] = {}
        self._lock = threading.Lock()

    def get(self, account: CloudAccount, make: Callable[[], CloudDriver]) -> CloudDriver:
        """The account's kept driver, or one `make` makes (one at a time: a vCenter session is not made twice)."""
        with self._lock:
            kept = self._kept.get(account.id)
            if kept and kept[1] == account and (self.max_age is None or time.monotonic() - kept[0] < self.max_age):
                return kept[2]
            made = make()
            self._kept[account.id] = (time.monotonic(), account, made)
            return made


def emulated_api_server(cluster_id: str, endpoint: str, settings: Settings) -> tuple[str, str | None]:
    """The emulator serves every cluster under its own URL; the certificate it presents is chosen by
    the name the client asks for in the TLS handshake: the load balancer's, or, for an endpoint that is
    an address (a virtual IP, for which a client sends no name), `<cluster id>.cluster.strata.invalid`."""
    url, host = f"{settings.kubeapi_url.rstrip('/')}/clusters/{cluster_id}", urlsplit(endpoint).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return url, host or None
    return url, f"{cluster_id}{EMULATED_NAME_SUFFIX}"


def api_server(cloud: str, account_config: dict[str, Any], cluster_id: str, endpoint: str,
               settings: Settings) -> tuple[str, str | None]:  # fmt: skip
    """(URL a client connects to, TLS server name to verify) for a cluster whose API endpoint is `endpoint`."""
    if account_config.get("kubernetes") == "emulated":
        return emulated_api_server(cluster_id, endpoint, settings)
    return plugin(cloud).api_server(cluster_id, endpoint, settings)


def driver_for(cloud: str, account_id: str, pool: DbPool, settings: Settings) -> CloudDriver:
    """The driver of the cluster's cloud for its account."""
    return plugin(cloud).driver(pool, settings, cloud_account(account_id, pool, settings))
