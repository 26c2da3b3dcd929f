"""What the Kubernetes API emulator reads of a cluster's machines: its API load balancer and its
node instances. The emulator goes through here, never to the lc_* tables itself.

Local clusters are read from the local cloud's tables. A cluster of another cloud whose account
says `"kubernetes": "emulated"` (a stand-in such as moto) is read through its cloud's driver: the
load balancer its status records (for the DNS name), and the instances tagged with the cluster
(the Kubernetes version from the node tag `strata:kubernetes`)."""

from __future__ import annotations

import threading
import time
from typing import Any

from strata_common.clouds import registry
from strata_common.clouds.catalog import Catalog
from strata_common.clouds.driver import GONE, READY
from strata_common.clouds.registry import EMULATED_NAME_SUFFIX
from strata_common.config import Settings
from strata_common.db.types import DbPool

DRIVER_CACHE_SECONDS = 1.0  # how long a stand-in cloud's answer stands (the controllers ask often)


class Inventory:
    def __init__(self, pool: DbPool, settings: Settings):
        self.pool = pool
        self.settings = settings
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, list[Any]]] = {}
        self._clouds: dict[str, tuple[str, str, dict[str, Any]]] = {}

    def api_endpoint(self, cluster_id: str) -> dict[str, Any] | None:
        """{"server_name": the load balancer's DNS name, "version": the Kubernetes version of the
        newest running control-plane node (None while none runs)}; None when there is no load balancer."""
        if self._emulated(cluster_id):
            owned = self._owned(cluster_id)
            balancer = next((r for r in owned if r.kind == "load_balancer"), None)
            if balancer is None:
                return None
            versions = [r.tags.get("strata:kubernetes") for r in owned if r.kind == "instance" and r.state == READY
                        and r.tags.get("strata:role") == "control-plane" and "strata:node" in r.tags]  # fmt: skip
            return {"server_name": balancer.spec.get("dnsName"), "version": next(filter(None, versions[::-1]), None)}
        with self.pool.connection() as conn:
            row = conn.execute(
                """
                SELECT lb.spec ->> 'dnsName' AS server_name,
                       (SELECT i.tags ->> 'strata:kubernetes' FROM lc_resources i
                         WHERE i.tags ->> 'strata:cluster' = %(c)s AND i.deleted_at IS NULL AND i.kind = 'instance'
                           AND i.ready_at <= now() AND i.tags ->> 'strata:role' = 'control-plane'
                           AND i.tags ? 'strata:kubernetes'
                         ORDER BY i.created_at DESC LIMIT 1) AS version
                FROM lc_resources lb
                WHERE lb.tags ->> 'strata:cluster' = %(c)s AND lb.deleted_at IS NULL AND lb.kind = 'load_balancer'
                """,
                {"c": cluster_id},
            ).fetchone()
        if row is None:
            return None
        return {"server_name": row["server_name"], "version": row["version"]}

    def cluster_of_server_name(self, server_name: str) -> str | None:
        """The cluster whose live API load balancer has this DNS name (or whose API endpoint has it), or
        the cluster a `<cluster id>.cluster.strata.invalid` name names (an endpoint that is an address)."""
        if server_name.endswith(EMULATED_NAME_SUFFIX):
            server_name = server_name.removesuffix(EMULATED_NAME_SUFFIX)
            with self.pool.connection() as conn:
                row = conn.execute("SELECT id::text AS cluster FROM clusters WHERE id::text = %s"
                                   " AND deleted_at IS NULL", (server_name,)).fetchone()  # fmt: skip
            return row["cluster"] if row else None
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT tags ->> 'strata:cluster' AS cluster FROM lc_resources WHERE kind = 'load_balancer'"
                " AND deleted_at IS NULL AND spec ->> 'dnsName' = %s"
                " UNION ALL SELECT id::text FROM clusters WHERE deleted_at IS NULL"
                " AND split_part(split_part(status ->> 'endpoint', '://', 2), ':', 1) = %s LIMIT 1",
                (server_name, server_name),
            ).fetchone()
        return row["cluster"] if row else None

    def clusters_without_api(self, cluster_ids: list[str]) -> list[str]:
        """Those of `cluster_ids` that have no live API load balancer (any more: one is never made
        again), or, on an emulated cloud, that are deleted."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT c FROM unnest(%s::text[]) AS c WHERE NOT EXISTS (SELECT 1 FROM lc_resources lb"
                " WHERE lb.tags ->> 'strata:cluster' = c AND lb.deleted_at IS NULL AND lb.kind = 'load_balancer')"
                " AND NOT EXISTS (SELECT 1 FROM clusters k WHERE k.id::text = c AND k.deleted_at IS NULL"
                " AND k.spec ->> 'cloudType' <> 'local')",
                (cluster_ids,),
            ).fetchall()
        return [row["c"] for row in rows]

    def sends_news(self, cluster_id: str) -> bool:
        """Whether changes to the cluster's instances are notified (the local cloud's are, migration 0016);
        otherwise the controllers look at them every few seconds."""
        return not self._emulated(cluster_id)

    def node_instances(self, cluster_id: str) -> list[dict[str, Any]]:
        """The cluster's live instances: id, zone, region, spec (instanceType, vcpus, memoryMiB), tags, running,
        and, in the local cloud, ready_in (seconds until a pending instance runs)."""
        if self._emulated(cluster_id):
            cloud = self._cloud_of(cluster_id)[0]
            sizes = (registry.catalog(cloud) or Catalog()).instance_types
            found = []
            for r in self._owned(cluster_id):
                if r.kind != "instance":
                    continue
                size = sizes.get(r.spec.get("instanceType", ""))
                spec = {**r.spec, "vcpus": size.cpu if size else 2, "memoryMiB": size.memory_mib if size else 4096}
                found.append({"id": r.id, "zone": r.zone, "region": r.region, "spec": spec, "tags": r.tags,
                              "running": r.state == READY, "provider": cloud})  # fmt: skip
            return found
        with self.pool.connection() as conn:
            return conn.execute(
                "SELECT id, zone, region, spec, tags, ready_at <= now() AS running,"
                " greatest(extract(epoch FROM ready_at - now()), 0)::float AS ready_in FROM lc_resources"
                " WHERE tags ->> 'strata:cluster' = %s AND deleted_at IS NULL AND kind = 'instance'",
                (cluster_id,),
            ).fetchall()

    # -- clusters on an emulated cloud ---------------------------------------------------------------

    def _cloud_of(self, cluster_id: str) -> tuple[str, str, dict[str, Any]]:
        """(cloud, account, account config) of the cluster, kept: a cluster never changes its account."""
        if cluster_id in self._clouds:
            return self._clouds[cluster_id]
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT c.spec ->> 'cloudType' AS cloud, c.spec ->> 'cloudAccount' AS account, a.config"
                " FROM clusters c JOIN cloud_accounts a ON a.id = (c.spec ->> 'cloudAccount')::uuid"
                " WHERE c.id = %s::uuid",
                (cluster_id,),
            ).fetchone()
        if row is None:
            return "local", "", {}
        self._clouds[cluster_id] = (row["cloud"], row["account"], row["config"])
        return self._clouds[cluster_id]

    def _emulated(self, cluster_id: str) -> bool:
        cloud, _, config = self._cloud_of(cluster_id)
        return cloud != "local" and config.get("kubernetes") == "emulated"

    def _owned(self, cluster_id: str) -> list[Any]:
        """The cluster's instances (by tag) and its API load balancer (by the id its status records:
        ELBv2 has no tag filter, and listing every balancer of a region per look grows with the fleet)."""
        with self._lock:
            kept = self._seen.get(cluster_id)
        if kept and time.monotonic() - kept[0] < DRIVER_CACHE_SECONDS:
            return kept[1]
        cloud, account, _ = self._cloud_of(cluster_id)
        driver = registry.driver_for(cloud, account, self.pool, self.settings)
        owned = driver.list_owned({"strata:cluster": cluster_id}, ("instance",))
        with self.pool.connection() as conn:
            row = conn.execute("SELECT status ->> 'loadBalancer' AS lb FROM clusters WHERE id = %s::uuid",
                               (cluster_id,)).fetchone()  # fmt: skip
        if row and row["lb"]:
            owned += [r for r in driver.describe([row["lb"]]) if r.state != GONE]
        with self._lock:
            self._seen[cluster_id] = (time.monotonic(), owned)
        return owned
