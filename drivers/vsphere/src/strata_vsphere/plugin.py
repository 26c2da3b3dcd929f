"""The vSphere driver as the `vsphere` plugin (entry point group `strata.clouds`): an account is a
vCenter (host, username and password sealed, datacenter, TLS checked against a CA bundle or a pinned
thumbprint, or explicitly not for labs), checked at creation by logging in and finding the
datacenter; drivers kept per account."""

from __future__ import annotations

from typing import Any

from pyVmomi import vim

from strata_common.clouds.driver import AUTH, INVALID, CloudDriver, CloudError
from strata_common.clouds.registry import CloudAccount, KeptDrivers
from strata_common.config import Settings
from strata_common.db.types import DbPool
from strata_vsphere.catalog import CATALOG
from strata_vsphere.driver import TYPICAL_SECONDS, VsphereCloud
from strata_vsphere.session import Endpoint, Session


def endpoint(account: CloudAccount) -> Endpoint:
    """Where and how to log in: `host` (with its port when not 443), `username` and `password`, and how
    vCenter's certificate is checked: against `caBundle` (PEM), pinned by its SHA-1 `thumbprint` as govc
    and the vSphere client show it, or not at all when `insecure` (labs)."""
    config, creds = account.config, account.credentials
    host, _, port = str(config.get("host", "")).partition(":")
    return Endpoint(host, int(port or 443), creds.get("username", ""), creds.get("password", ""),
                    verify=not config.get("insecure"), ca_bundle=config.get("caBundle") or None,
                    thumbprint=config.get("thumbprint") or None)  # fmt: skip


def port_groups(config: dict[str, Any]) -> dict[str, str]:
    """The port group of each node role: `portGroups` per role, or the one `network` both share."""
    named = config.get("portGroups") or {}
    shared = config.get("network") or "VM Network"
    return {role: named.get(role) or shared for role in ("control-plane", "workers")}


class VspherePlugin:
    name = "vsphere"
    catalog = CATALOG

    def __init__(self) -> None:
        self._drivers = KeptDrivers()

    def driver(self, pool: DbPool, settings: Settings, account: CloudAccount) -> CloudDriver:
        config = account.config
        return self._drivers.get(account, lambda: VsphereCloud(
            Session(endpoint(account)), port_groups(config), str(config.get("vipPool") or ""),
            builder_ssh=config.get("builderSsh")))  # fmt: skip

    def check_account(self, account: CloudAccount) -> None:
        """Log in, and find the account's datacenter."""
        session = Session(endpoint(account))
        try:
            datacenters = {row["name"] for row in session.collect([vim.Datacenter], ["name"])}
        except CloudError as err:
            if err.kind == AUTH:
                raise
            raise CloudError(err.kind, err.code, f"vCenter {account.config.get('host')}: {err.message}") from None
        finally:
            session.close()
        wanted = account.config.get("datacenter")
        if wanted not in datacenters:
            raise CloudError(INVALID, "NotFound", f"no datacenter {wanted!r} (vCenter has "
                             f"{', '.join(sorted(datacenters)) or 'none'})", setting="datacenter")  # fmt: skip

    def api_server(self, cluster_id: str, endpoint: str, settings: Settings) -> tuple[str, str | None]:
        """kube-vip serves the cluster's API on its virtual IP."""
        return endpoint, None

    def admin(self) -> None:
        return None

    def expected_seconds(self, kind: str, settings: Settings) -> float:
        return TYPICAL_SECONDS.get(kind, 0.0)

    def account_zones(self, account: CloudAccount) -> dict[str, list[dict[str, Any]]]:
        """The account's datacenter and its compute clusters (the zones) with their hosts and capacity."""
        session = Session(endpoint(account))
        datacenter = account.config.get("datacenter", "")
        try:
            centers = [r["obj"] for r in session.collect([vim.Datacenter], ["name"]) if r["name"] == datacenter]
            found = session.collect([vim.ClusterComputeResource], ["name", "summary"], centers[0].hostFolder)
        finally:
            session.close()
        zones = []
        for row in sorted(found if centers else [], key=lambda r: r["name"]):
            summary = row["summary"]
            zones.append({"name": row["name"], "hosts": summary.numHosts, "cpuCores": summary.numCpuCores,
                          "cpuMhz": summary.totalCpu, "memoryMiB": summary.totalMemory // 2**20,
                          "availableCpuMhz": summary.effectiveCpu,
                          "availableMemoryMiB": summary.effectiveMemory})  # fmt: skip
        return {datacenter: zones}


plugin = VspherePlugin()
