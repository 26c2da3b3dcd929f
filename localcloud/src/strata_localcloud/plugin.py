"""The local cloud as the `local` driver plugin (entry point group `strata.clouds`)."""

from __future__ import annotations

from types import ModuleType

from psycopg_pool import ConnectionPool

from strata_common.clouds.driver import CloudDriver
from strata_common.clouds.registry import CloudAccount, emulated_api_server
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

    def check_account(self, account: CloudAccount) -> None:
        """The local cloud has no credentials to check."""

    def api_server(self, cluster_id: str, endpoint: str, settings: Settings) -> tuple[str, str | None]:
        """Every local cluster's API is the emulator's."""
        return emulated_api_server(cluster_id, endpoint, settings)

    def admin(self) -> ModuleType:
        return admin

    def expected_seconds(self, kind: str, settings: Settings) -> float:
        """The local cloud's own latency model, scaled as its resources are."""
        return LatencyModel(settings.localcloud_time_scale).seconds(kind)

    def account_zones(self, account: CloudAccount) -> None:
        return None


plugin = LocalPlugin()
