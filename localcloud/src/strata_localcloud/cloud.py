"""The built-in local cloud: a simulated cloud kept in PostgreSQL, so every worker sees the same one.

It behaves like a cloud: resources are pending until a latency passes (scaled by
STRATA_LOCALCLOUD_TIME_SCALE; 0 = instant), launches count against a vCPU quota per region and
fail with EC2's VcpuLimitExceeded past it, every action is throttled by a token bucket (EC2's
RequestLimitExceeded), an idempotency token answers the resource it first created (as EC2's
ClientToken), and injected faults make the next N calls of an action fail.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import product
from pathlib import Path
from typing import Any

from prometheus_client import Counter
from psycopg import Connection
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from strata_common.clouds.addresses import subnet_cidr
from strata_common.clouds.driver import (
    AUTH,
    CAPACITY,
    CONFLICT,
    GONE,
    INVALID,
    NODE_ROLES,
    NOT_FOUND,
    PENDING,
    QUOTA,
    READY,
    THROTTLED,
    UNAVAILABLE,
    CloudError,
    LaunchSpec,
    Resource,
    TagFilter,
    token_hash,
)
from strata_localcloud import disks
from strata_localcloud.catalog import CATALOG

ACTIONS = (
    "CreateNetwork", "CreateSecurityGroup", "CreateLoadBalancer", "DescribeImages", "CopyImage", "CreateImage",
    "RunInstances", "DescribeInstances", "ModifyInstanceAttribute", "DeleteResource", "ListOwned", "RegisterTargets",
    "DeregisterTargets",
)  # fmt: skip
PREFIX = {"network": "vpc", "subnet": "subnet", "security_group": "sg", "load_balancer": "lb", "instance": "i",
          "image": "ami"}  # fmt: skip
THROTTLE = """
WITH bucket AS (
    SELECT action, rate = 0 OR least(burst, tokens + rate * extract(epoch FROM clock_timestamp() - refilled_at)) >= 1
               AS allowed
    FROM lc_throttle WHERE action = %s FOR UPDATE
)
UPDATE lc_throttle t
SET tokens = CASE WHEN t.rate = 0 THEN t.tokens
                  ELSE least(t.burst, t.tokens + t.rate * extract(epoch FROM clock_timestamp() - t.refilled_at))
                       - CASE WHEN bucket.allowed THEN 1 ELSE 0 END END,
    refilled_at = clock_timestamp(), calls = t.calls + 1
FROM bucket WHERE t.action = bucket.action
RETURNING bucket.allowed
"""
QUOTA_MESSAGE = (
    "You have requested more vCPU capacity than your current vCPU limit of {quota} allows for the instance "
    "bucket that the specified instance type belongs to. Please visit the local cloud's quota API "
    "(PUT /v1/localcloud/regions/{region}/quota) to request an adjustment to this limit."
)


@dataclass(frozen=True)
class LatencyModel:
    """Seconds until each kind of resource is ready, before scaling."""

    time_scale: float = 0.0
    instance: float = 45.0
    image: float = 120.0
    load_balancer: float = 30.0
    network: float = 3.0
    security_group: float = 1.0

    def seconds(self, kind: str) -> float:
        return self.time_scale * getattr(self, kind if kind != "subnet" else "network")


# EC2's codes, as the local cloud words its refusals, by normalized kind; an injected fault with any
# other code is an outage (transient).
KINDS = {
    "VcpuLimitExceeded": QUOTA, "InsufficientInstanceCapacity": CAPACITY, "AuthFailure": AUTH,
    "UnauthorizedOperation": AUTH, "InvalidAMIID.NotFound": INVALID, "InvalidParameterValue": INVALID,
    "RequestLimitExceeded": THROTTLED, "Throttling": THROTTLED, "InvalidInstanceID.NotFound": NOT_FOUND,
    "IdempotentParameterMismatch": CONFLICT, "LoadBalancerNotFound": NOT_FOUND,
}  # fmt: skip


def refusal(code: str, message: str) -> CloudError:
    return CloudError(KINDS.get(code, UNAVAILABLE), code, message)


def _states(row: dict[str, Any]) -> tuple[str, str]:
    """(normalized state, EC2's word for it)."""
    instance = row["kind"] == "instance"
    if row["deleted_at"] is not None:
        return GONE, "terminated" if instance else "deleted"
    if not row["ready"]:
        return PENDING, "pending"
    return READY, "running" if instance else "available"


def _resource(row: dict[str, Any]) -> Resource:
    state, native = _states(row)
    return Resource(row["id"], row["kind"], row["region"], row["zone"], state, row["spec"], row["tags"],
                    row["created_at"], native)  # fmt: skip


SELECT = "SELECT *, ready_at <= now() AS ready FROM lc_resources"
LOCALCLOUD_CALLS = Counter(  # counted in the process the driver runs in (a worker service)
    "strata_localcloud_calls_total",
    "Calls to the local cloud by action, and the fault they met (none, an injected fault's code, or throttling)",
    ["action", "fault"],
)


class LocalCloud:
    """CloudDriver over the lc_* tables."""

    def __init__(self, pool: ConnectionPool, latency: LatencyModel | None = None):
        self.pool = pool
        self.latency = latency or LatencyModel()

    # -- plumbing ------------------------------------------------------------------------------

    def _call(self, conn: Connection, action: str) -> None:
        """Admit one call of `action`: raise the next injected fault for it (consumed), or a throttling
        refusal when its token bucket is empty. Commits, so the bucket's row lock is held only here."""
        fault = conn.execute(
            "UPDATE lc_faults SET remaining = remaining - 1 WHERE id = (SELECT id FROM lc_faults"
            " WHERE action = %s AND remaining > 0 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)"
            " RETURNING code, message",
            (action,),
        ).fetchone()
        if fault:
            conn.commit()  # the fault is used up even though the call fails
            LOCALCLOUD_CALLS.labels(action, fault["code"]).inc()
            raise refusal(fault["code"], fault["message"])
        bucket = conn.execute(THROTTLE, (action,)).fetchone()
        conn.commit()
        if bucket is not None and not bucket["allowed"]:
            LOCALCLOUD_CALLS.labels(action, "RequestLimitExceeded").inc()
            raise refusal("RequestLimitExceeded", "Request limit exceeded.")
        LOCALCLOUD_CALLS.labels(action, "none").inc()

    def _region(self, conn: Connection, region: str, lock: bool = False) -> dict[str, Any]:
        row = conn.execute(
            "SELECT * FROM lc_regions WHERE name = %s" + (" FOR UPDATE" if lock else ""), (region,)
        ).fetchone()
        if row is None:
            raise refusal("InvalidParameterValue", f"region {region!r} does not exist")
        return row

    def _by_token(self, conn: Connection, kind: str, region: str, token: str) -> Resource | None:
        row = conn.execute(
            f"{SELECT} WHERE kind = %s AND region = %s AND client_token = %s", (kind, region, token)
        ).fetchone()
        return _resource(row) if row else None

    def _insert(
        self, conn: Connection, kind: str, region: str, zone: str | None, spec: dict[str, Any],
        tags: dict[str, str], token: str | None,
    ) -> Resource:  # fmt: skip
        row = conn.execute(
            """
            WITH added AS (
                INSERT INTO lc_resources (id, kind, region, zone, spec, tags, client_token, ready_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s))
                ON CONFLICT (kind, region, client_token) WHERE client_token IS NOT NULL DO NOTHING
                RETURNING *
            ) SELECT *, ready_at <= now() AS ready FROM added
            """,
            (f"{PREFIX[kind]}-{secrets.token_hex(9)[:17]}", kind, region, zone, Jsonb(spec), Jsonb(tags), token,
             self.latency.seconds(kind)),
        ).fetchone()  # fmt: skip
        if row is None:  # a concurrent call with the same token won
            found = self._by_token(conn, kind, region, token or "")
            assert found is not None
            return found
        return _resource(row)

    def _ensure(
        self, action: str, kind: str, region: str, zone: str | None, spec: dict[str, Any],
        tags: dict[str, str], token: str,
    ) -> Resource:  # fmt: skip
        with self.pool.connection() as conn:
            self._call(conn, action)
            self._region(conn, region)
            return self._by_token(conn, kind, region, token) or self._insert(
                conn, kind, region, zone, spec, tags, token
            )

    # -- CloudDriver ---------------------------------------------------------------------------

    def ensure_network(
        self, region: str, cidr: str, zones: list[str], tags: dict[str, str], token: str,
        roles: tuple[str, ...] = NODE_ROLES,
    ) -> Resource:  # fmt: skip
        network = self._ensure("CreateNetwork", "network", region, None, {"cidr": cidr}, tags, token)
        pairs = [(role, zone) for role in roles for zone in zones]
        subnets: dict[str, dict[str, str]] = {role: {} for role in roles}
        for i, (role, zone) in enumerate(pairs):
            spec = {"network": network.id, "cidr": subnet_cidr(cidr, i), "role": role}
            subnets[role][zone] = self._ensure("CreateNetwork", "subnet", region, zone, spec,
                                               {**tags, "strata:role": role}, f"{token}/{role}/{zone}").id  # fmt: skip
        spec = {**network.spec, "subnets": subnets}
        return Resource(network.id, "network", region, None, network.state, spec, tags, network.created_at,
                        network.native_state)  # fmt: skip

    def ensure_security_groups(
        self, region: str, network_id: str, groups: dict[str, list[dict[str, Any]]], tags: dict[str, str], token: str
    ) -> dict[str, Resource]:
        made = {
            name: self._ensure("CreateSecurityGroup", "security_group", region, None,
                               {"network": network_id, "name": name}, {**tags, "strata:role": name}, f"{token}/{name}")
            for name in groups
        }  # fmt: skip
        ids = {name: group.id for name, group in made.items()}
        with self.pool.connection() as conn:
            self._call(conn, "AuthorizeSecurityGroupIngress")
            for name, rules in groups.items():
                stored = [{"protocol": r["protocol"], "ports": str(r["ports"]),
                           "from": sorted(ids[source] for source in r.get("from", [])),
                           "cidrs": sorted(r.get("cidrs", [])), "why": r.get("why", "")} for r in rules]  # fmt: skip
                row = conn.execute(
                    "UPDATE lc_resources SET spec = spec || jsonb_build_object('rules', %s::jsonb) WHERE id = %s"
                    " RETURNING *, ready_at <= now() AS ready",
                    (Jsonb(stored), ids[name]),
                ).fetchone()
                made[name] = _resource(row)
        return made

    def ensure_load_balancer(
        self, region: str, network_id: str, port: int, tags: dict[str, str], token: str,
        security_groups: tuple[str, ...] = (),
    ) -> Resource:  # fmt: skip
        name = f"api-{token_hash(token)}.lb.{region}.local"  # a valid DNS name
        spec = {"network": network_id, "port": port, "dnsName": name, "securityGroups": list(security_groups)}
        return self._ensure("CreateLoadBalancer", "load_balancer", region, None, spec, tags, token)

    def register_targets(self, load_balancer_id: str, instance_ids: list[str]) -> Resource:
        return self._targets("RegisterTargets", load_balancer_id, add=instance_ids)

    def deregister_targets(self, load_balancer_id: str, instance_ids: list[str]) -> Resource:
        return self._targets("DeregisterTargets", load_balancer_id, remove=instance_ids)

    def _targets(
        self, action: str, load_balancer_id: str, add: list[str] | None = None, remove: list[str] | None = None
    ) -> Resource:
        """The balancer's targets with `add` and without `remove`, each once, in order."""
        with self.pool.connection() as conn:
            self._call(conn, action)
            row = conn.execute(
                "UPDATE lc_resources SET spec = jsonb_set(spec, '{targets}', (SELECT coalesce(jsonb_agg(DISTINCT t"
                " ORDER BY t), '[]') FROM jsonb_array_elements_text(coalesce(spec->'targets', '[]') || %s) t"
                " WHERE t <> ALL(%s))) WHERE id = %s AND kind = 'load_balancer' AND deleted_at IS NULL"
                " RETURNING *, ready_at <= now() AS ready",
                (Jsonb(add or []), remove or [], load_balancer_id),
            ).fetchone()
        if row is None:
            raise refusal("LoadBalancerNotFound", f"load balancer {load_balancer_id} does not exist")
        return _resource(row)

    def catalog_image(self, region: str, reference: dict[str, Any]) -> str:
        """The local cloud's base images are in every region, named as the packs name them."""
        image = reference.get("image")
        if image not in disks.CATALOG:
            raise refusal("InvalidAMIID.NotFound", f"the local cloud has no base image {image!r}")
        return image

    def find_images(self, region: str, tags: dict[str, str]) -> list[Resource]:
        with self.pool.connection() as conn:
            self._call(conn, "DescribeImages")
            rows = conn.execute(
                f"{SELECT} WHERE kind = 'image' AND region = %s AND tags @> %s AND deleted_at IS NULL"
                " ORDER BY created_at",
                (region, Jsonb(tags)),
            ).fetchall()
        return [_resource(r) for r in rows]

    def copy_image(self, image_id: str, region: str, tags: dict[str, str], token: str) -> Resource:
        source = self._live(image_id, "image")
        spec = {**source.spec, "copiedFrom": image_id}
        with self.pool.connection() as conn:
            self._call(conn, "CopyImage")
            self._region(conn, region)
            copy = self._by_token(conn, "image", region, token)
            if copy is None:
                copy = self._insert(conn, "image", region, None, spec, {**source.tags, **tags}, token)
                conn.execute(
                    "INSERT INTO lc_image_disks (image_id, archive) SELECT %s, archive FROM lc_image_disks"
                    " WHERE image_id = %s ON CONFLICT DO NOTHING",
                    (copy.id, image_id),
                )
        return copy

    def create_image(self, instance_id: str, tags: dict[str, str], token: str) -> Resource:
        """An image of the instance's root: its folder on this machine if it was customized here,
        else the root of the image it was launched from."""
        instance = self._live(instance_id, "instance")
        spec = {"fromInstance": instance_id, "baseImage": instance.spec.get("image")}
        with self.pool.connection() as conn:
            self._call(conn, "CreateImage")
            image = self._by_token(conn, "image", instance.region, token)
            if image is None:
                root = disks.instance_root(conn, instance_id, instance.spec["image"])
                image = self._insert(conn, "image", instance.region, None, spec, tags, token)
                conn.execute(
                    "INSERT INTO lc_image_disks (image_id, archive) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (image.id, disks.archive(root)),
                )
        return image

    def run_instance(self, launch: LaunchSpec) -> Resource:
        region = launch.region
        size = CATALOG.instance_types.get(launch.instance_type)
        if size is None:
            raise refusal("InvalidParameterValue", f"instance type {launch.instance_type!r} does not exist")
        with self.pool.connection() as conn:
            self._call(conn, "RunInstances")
            existing = self._by_token(conn, "instance", region, launch.token)
            if existing:
                return existing
            if (
                launch.image not in disks.CATALOG
                and not conn.execute(
                    "SELECT 1 FROM lc_resources WHERE id = %s AND kind = 'image' AND region = %s"
                    " AND deleted_at IS NULL",
                    (launch.image, region),
                ).fetchone()
            ):
                raise refusal("InvalidAMIID.NotFound", f"The image id '[{launch.image}]' does not exist in {region}")
            row = self._region(conn, region, lock=True)  # launches in a region serialize here
            quota, used = row["vcpu_quota"], row["vcpus_used"]  # kept by a trigger (migration 0016)
            if used + size.cpu > quota:
                raise refusal("VcpuLimitExceeded", QUOTA_MESSAGE.format(quota=quota, region=region))
            spec = {"instanceType": launch.instance_type, "vcpus": size.cpu, "memoryMiB": size.memory_mib,
                    "image": launch.image, "userData": launch.user_data, "subnet": launch.subnet,
                    "securityGroups": list(launch.security_groups), "diskGiB": launch.disk_gib}  # fmt: skip
            return self._insert(conn, "instance", region, launch.zone, spec, launch.tags, launch.token)

    def describe(self, ids: list[str]) -> list[Resource]:
        with self.pool.connection() as conn:
            self._call(conn, "DescribeInstances")
            rows = conn.execute(f"{SELECT} WHERE id = ANY(%s) ORDER BY id", (ids,)).fetchall()
        return [_resource(r) for r in rows]

    def change_instance_type(self, instance_id: str, instance_type: str) -> Resource:
        size = CATALOG.instance_types.get(instance_type)
        if size is None:
            raise refusal("InvalidParameterValue", f"instance type {instance_type!r} does not exist")
        with self.pool.connection() as conn:
            self._call(conn, "ModifyInstanceAttribute")
            row = conn.execute(
                "UPDATE lc_resources SET spec = spec || %s WHERE id = %s AND kind = 'instance' AND deleted_at IS NULL"
                " RETURNING *, ready_at <= now() AS ready",
                (Jsonb({"instanceType": instance_type, "vcpus": size.cpu, "memoryMiB": size.memory_mib}), instance_id),
            ).fetchone()
        if row is None:
            raise refusal("InvalidInstanceID.NotFound", f"instance {instance_id} does not exist")
        return _resource(row)

    def delete(self, resource_id: str) -> None:
        with self.pool.connection() as conn:
            self._call(conn, "DeleteResource")
            conn.execute(
                "UPDATE lc_resources SET deleted_at = now() WHERE id = %s AND deleted_at IS NULL", (resource_id,)
            )
        disks.discard_root(resource_id)

    # -- the local cloud's own: what stands for a builder's disk and SSH ------------------------

    def instance_root(self, instance: Resource) -> Path:
        """The folder that is the instance's root filesystem on this machine."""
        with self.pool.connection() as conn:
            return disks.instance_root(conn, instance.id, instance.spec["image"])

    def builder_connection(self, builder: Resource, user: str | None = None) -> dict[str, str]:
        """A local builder is a folder: ansible runs with a local connection against it as `image_root`."""
        return {"ansible_connection": "local", "image_root": str(self.instance_root(builder))}

    def image_files(self, image_id: str) -> dict[str, bytes]:
        with self.pool.connection() as conn:
            return disks.image_files(conn, image_id)

    def list_owned(self, tags: TagFilter, kinds: tuple[str, ...] | None = None) -> list[Resource]:
        with self.pool.connection() as conn:
            self._call(conn, "ListOwned")
            rows = conn.execute(
                f"{SELECT} WHERE tags @> ANY(%s::jsonb[]) AND deleted_at IS NULL"
                " AND (%s::text[] IS NULL OR kind = ANY(%s)) ORDER BY created_at, id",
                (_containing(tags), kinds and list(kinds), kinds and list(kinds)),
            ).fetchall()
        return [_resource(r) for r in rows]

    def poll_delay(self, resource: Resource) -> float:
        """When the latency model says the resource is ready, then every twentieth of its latency."""
        latency = self.latency.seconds(resource.kind)
        age = (datetime.now(UTC) - resource.created_at).total_seconds() if resource.created_at else 0.0
        return max(latency - age, latency / 20, 0.01)

    def _live(self, resource_id: str, kind: str) -> Resource:
        found = [r for r in self.describe([resource_id]) if r.kind == kind and r.state != GONE]
        if not found:
            code = "InvalidAMIID.NotFound" if kind == "image" else "InvalidInstanceID.NotFound"
            raise refusal(code, f"{kind} {resource_id} does not exist")
        return found[0]


def _containing(tags: TagFilter) -> list[Jsonb]:
    """Tag documents one of which a resource's tags must contain (a tuple value: one document per string)."""
    choices = [[(key, v) for v in value] if isinstance(value, tuple) else [(key, value)] for key, value in tags.items()]
    return [Jsonb(dict(pairs)) for pairs in product(*choices)]
