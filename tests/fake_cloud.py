"""An in-memory CloudDriver for running step handlers in-process: every create answers the resource
its idempotency token first made, resources are ready at once, and it counts what it was asked, so a
test can tell a re-run from a duplicate. It is test support, not a cloud: no latency, quota or fault."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from strata_common.clouds.driver import (
    GONE,
    INVALID,
    NODE_ROLES,
    READY,
    CloudError,
    LaunchSpec,
    Resource,
    TagFilter,
)


class FakeCloud:
    def __init__(self, builder_root: Path | None = None):
        self.resources: dict[str, Resource] = {}
        self.by_token: dict[tuple[str, str], str] = {}
        self.calls: list[str] = []
        self.builder_root = builder_root
        self._ids = itertools.count(1)

    def _create(self, kind: str, region: str, zone: str | None, spec: dict[str, Any], tags: dict[str, str],
                token: str) -> Resource:  # fmt: skip
        self.calls.append(kind)
        existing = self.by_token.get((kind, token))
        if existing:
            return self.resources[existing]
        ident = f"{kind}-{next(self._ids)}"
        resource = Resource(ident, kind, region, zone, READY, spec, dict(tags), datetime.now(UTC))
        self.resources[ident] = resource
        self.by_token[(kind, token)] = ident
        return resource

    def add_image(self, region: str, tags: dict[str, str]) -> Resource:
        return self._create("image", region, None, {}, tags, f"seed-{len(self.resources)}")

    def ensure_network(self, region: str, cidr: str, zones: list[str], tags: dict[str, str], token: str,
                       roles: tuple[str, ...] = NODE_ROLES) -> Resource:  # fmt: skip
        subnets = {role: {z: self._create("subnet", region, z, {"role": role}, tags, f"{token}/{role}/{z}").id
                          for z in zones} for role in roles}  # fmt: skip
        network = self._create("network", region, None, {"cidr": cidr}, tags, token)
        return replace(network, spec={**network.spec, "subnets": subnets})

    def ensure_security_groups(self, region: str, network_id: str, groups: dict[str, list[dict[str, Any]]],
                               tags: dict[str, str], token: str) -> dict[str, Resource]:  # fmt: skip
        return {name: self._create("security_group", region, None, {"network": network_id, "rules": rules},
                                   {**tags, "strata:role": name}, f"{token}/{name}")
                for name, rules in groups.items()}  # fmt: skip

    def ensure_load_balancer(self, region: str, network_id: str, port: int, tags: dict[str, str], token: str,
                             security_groups: tuple[str, ...] = ()) -> Resource:  # fmt: skip
        spec = {"network": network_id, "port": port, "dnsName": f"api.{region}.fake"}
        return self._create("load_balancer", region, None, spec, tags, token)

    def register_targets(self, load_balancer_id: str, instance_ids: list[str]) -> Resource:
        balancer = self.resources[load_balancer_id]
        targets = sorted({*balancer.spec.get("targets", []), *instance_ids})
        self.resources[load_balancer_id] = replace(balancer, spec={**balancer.spec, "targets": targets})
        return self.resources[load_balancer_id]

    def deregister_targets(self, load_balancer_id: str, instance_ids: list[str]) -> Resource:
        balancer = self.resources[load_balancer_id]
        targets = [t for t in balancer.spec.get("targets", []) if t not in instance_ids]
        self.resources[load_balancer_id] = replace(balancer, spec={**balancer.spec, "targets": targets})
        return self.resources[load_balancer_id]

    def catalog_image(self, region: str, reference: dict[str, Any]) -> str:
        return reference["image"]

    def find_images(self, region: str, tags: dict[str, str]) -> list[Resource]:
        return [r for r in self._live() if r.kind == "image" and r.region == region and tags.items() <= r.tags.items()]

    def copy_image(self, image_id: str, region: str, tags: dict[str, str], token: str) -> Resource:
        source = self.resources[image_id]
        return self._create("image", region, None, {"copiedFrom": image_id}, {**source.tags, **tags}, token)

    def create_image(self, instance_id: str, tags: dict[str, str], token: str) -> Resource:
        region = self.resources[instance_id].region
        return self._create("image", region, None, {"fromInstance": instance_id}, tags, token)

    def run_instance(self, launch: LaunchSpec) -> Resource:
        if not launch.image:
            raise CloudError(INVALID, "InvalidAMIID.NotFound", "no image")
        spec = {
            "instanceType": launch.instance_type,
            "image": launch.image,
            "userData": launch.user_data,
            "subnet": launch.subnet,
            "securityGroups": list(launch.security_groups),
            "diskGiB": launch.disk_gib,
        }
        return self._create("instance", launch.region, launch.zone, spec, launch.tags, launch.token)

    def describe(self, ids: list[str]) -> list[Resource]:
        return [self.resources[i] for i in ids if i in self.resources]

    def change_instance_type(self, instance_id: str, instance_type: str) -> Resource:
        resource = replace(self.resources[instance_id], spec={**self.resources[instance_id].spec,
                                                               "instanceType": instance_type})  # fmt: skip
        self.resources[instance_id] = resource
        return resource

    def delete(self, resource_id: str) -> None:
        if resource_id in self.resources:
            self.resources[resource_id] = replace(self.resources[resource_id], state=GONE)

    def list_owned(self, tags: TagFilter, kinds: tuple[str, ...] | None = None) -> list[Resource]:
        def matches(resource: Resource) -> bool:
            return all(resource.tags.get(key) in (value if isinstance(value, tuple) else (value,))
                       for key, value in tags.items())  # fmt: skip

        return [r for r in self._live() if matches(r) and (kinds is None or r.kind in kinds)]

    def builder_connection(self, builder: Resource, user: str | None = None) -> dict[str, str]:
        assert self.builder_root is not None, "this fake cloud builds no images"
        return {"ansible_connection": "local", "image_root": str(self.builder_root)}

    def poll_delay(self, resource: Resource) -> float:
        return 0.0

    def _live(self) -> list[Resource]:
        return [r for r in self.resources.values() if r.state != GONE]


class FakeNodes:
    """The Kubernetes side of a FakeCloud, for node steps: a Node (Ready) for each of its node instances."""

    def __init__(self, cloud: FakeCloud):
        self.cloud = cloud

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        launched = any(r.tags.get("strata:node") == f"ensure_node/{name}" and r.state != GONE
                       for r in self.cloud.resources.values())  # fmt: skip
        if kind != "Node" or not launched:
            return None
        return {"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}

    def close(self) -> None:
        pass
