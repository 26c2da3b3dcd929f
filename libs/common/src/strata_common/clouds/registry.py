"""Cloud drivers as plugins: each cloud registers a `CloudPlugin` in the entry point group
`strata.clouds` under its cloud type, and product code reaches a cloud only through here.

A plugin gives its catalog, builds a driver for a region's account, and says where a cluster's
Kubernetes API answers for a client (a stand-in cloud may serve it elsewhere than the endpoint).
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import Any, Protocol

from strata_common.clouds.catalog import PLANNED, Catalog
from strata_common.clouds.driver import INVALID, CloudDriver, CloudError
from strata_common.config import Settings
from strata_common.db.types import DbPool

GROUP = "strata.clouds"


class CloudPlugin(Protocol):
    name: str
    catalog: Catalog

    def driver(self, pool: DbPool, settings: Settings) -> CloudDriver:
        """A driver for this cloud (stateless between calls; a process may keep it)."""

    def api_server(self, cluster_id: str, endpoint: str, settings: Settings) -> tuple[str, str | None]:
        """(URL a client connects to, TLS server name to verify) for a cluster whose API endpoint is `endpoint`."""

    def admin(self) -> Any:
        """The cloud's own administration (a stand-in's faults and quotas), or None."""


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
    """The cloud's regions and instance types: its plugin's, else the planned catalog of a cloud to come."""
    found = plugins().get(cloud)
    return found.catalog if found else PLANNED.get(cloud)


def driver_for(cloud: str, pool: DbPool, settings: Settings) -> CloudDriver:
    return plugin(cloud).driver(pool, settings)
