"""The local cloud as the `local` driver plugin (entry point group `strata.clouds`)."""

from __future__ import annotations

from types import ModuleType
from urllib.parse import urlsplit

from psycopg_pool import ConnectionPool

from strata_common.clouds.driver import CloudDriver
from strata_common.clouds.registry import CloudAccount
from strata_common.config import Settings
from strata_localcloud import admin
from strata_localcloud.catalog import CATALOG
from strata_localcloud.cloud import LatencyModel, LocalCloud


class LocalPlugin:
    name = "local"
    catalog = CATALOG

    def driver(self, pool: ConnectionPool, settings: Settings, account: CloudAccount) -> CloudDriver:
        """The local cloud has one account's worth of everything: the account changes nothing."""
        return LocalCloud(pool, LatencyModel(settings.localcloud_time_scale))

    def api_server(self, cluster_id: str, endpoint: str, settings: Settings) -> tuple[str, str | None]:
        """The emulator serves every local cluster under its own URL; the certificate it presents is
        chosen by the load balancer's name, which the client must ask for."""
        return f"{settings.kubeapi_url.rstrip('/')}/clusters/{cluster_id}", urlsplit(endpoint).hostname

    def admin(self) -> ModuleType:
        return admin


plugin = LocalPlugin()
