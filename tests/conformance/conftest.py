"""The drivers under the conformance suite, each with the few levers a test needs that the driver
protocol has no business offering (a quota, an injected refusal). AWS, vSphere and Azure join here
on their stand-ins."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from strata_common.clouds.driver import CloudDriver
from strata_common.db.pool import open_pool
from strata_localcloud import admin
from strata_localcloud.cloud import LatencyModel, LocalCloud


@dataclass
class DriverUnderTest:
    name: str
    driver: CloudDriver
    region: str
    other_region: str
    zones: list[str]
    instance_type: str  # the smallest size: quota tests count its vCPUs
    vcpus: int
    image: str  # an image every region has
    database_url: str

    def set_quota(self, vcpus: int) -> None:
        self._admin(admin.set_quota, self.region, vcpus)

    def refuse_next(self, action: str, code: str, message: str, count: int = 1) -> None:
        self._admin(admin.add_fault, action, code, message, count)

    def _admin(self, fn: Any, *args: Any) -> None:
        with psycopg.connect(self.database_url, row_factory=dict_row) as conn:
            fn(conn, *args)


@pytest.fixture(params=["local"])
def cloud(request, database_url) -> Iterator[DriverUnderTest]:
    pool = open_pool(database_url, max_size=4)
    yield DriverUnderTest("local", LocalCloud(pool, LatencyModel(0)), "local-1", "local-2", ["local-1a", "local-1b"],
                          "small", 1, "ubuntu-22.04", database_url)  # fmt: skip
    pool.close()
