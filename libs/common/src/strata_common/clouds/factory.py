"""The driver for a cloud account's `cloud`."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from strata_common.clouds.driver import CloudDriver, CloudError
from strata_common.clouds.local import LatencyModel, LocalCloud
from strata_common.config import Settings


def driver_for(cloud: str, pool: ConnectionPool, settings: Settings) -> CloudDriver:
    if cloud == "local":
        return LocalCloud(pool, LatencyModel(settings.localcloud_time_scale))
    raise CloudError("UnsupportedCloud", f"the {cloud} driver is not available in this version of Strata")
