"""The narrow boundary every cloud implements: networks, security groups, load balancers, images,
instances, and listing what a cluster owns (for leak sweeps)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Resource:
    """Anything a cloud holds for a cluster; `state` is the cloud's own word (pending, running, ...)."""

    id: str
    kind: str
    region: str
    zone: str | None
    state: str
    spec: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None


# Codes a user must fix (quota, credentials, a missing image); everything else is retried as transient.
USER_FIXABLE_CODES = {"VcpuLimitExceeded", "AuthFailure", "UnauthorizedOperation", "InvalidAMIID.NotFound",
                      "InvalidParameterValue", "InsufficientInstanceCapacity", "UnsupportedCloud"}  # fmt: skip


class CloudError(Exception):
    """A refusal by the cloud: its code and message as the cloud words them, and whether a user must act
    (quota, credentials, a missing image) or a retry may do (throttling, capacity blips)."""

    def __init__(self, code: str, message: str, user_fixable: bool | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.user_fixable = code in USER_FIXABLE_CODES if user_fixable is None else user_fixable


class CloudDriver(Protocol):
    """Every create takes an idempotency `token` (derived from the step) and ownership `tags`."""

    def ensure_network(self, region: str, cidr: str, zones: list[str], tags: dict[str, str], token: str) -> Resource:
        """A network with one subnet per zone (the subnets are listed in spec["subnets"])."""

    def ensure_security_group(
        self, region: str, network_id: str, name: str, rules: list[dict[str, Any]], tags: dict[str, str], token: str
    ) -> Resource: ...

    def ensure_load_balancer(
        self, region: str, network_id: str, port: int, tags: dict[str, str], token: str
    ) -> Resource: ...

    def find_images(self, region: str, tags: dict[str, str]) -> list[Resource]: ...

    def copy_image(self, image_id: str, region: str, tags: dict[str, str], token: str) -> Resource: ...

    def create_image(self, instance_id: str, tags: dict[str, str], token: str) -> Resource: ...

    def run_instance(
        self,
        region: str,
        zone: str,
        instance_type: str,
        image_id: str,
        user_data: str,
        tags: dict[str, str],
        token: str,
    ) -> Resource: ...

    def describe(self, ids: list[str]) -> list[Resource]: ...

    def change_instance_type(self, instance_id: str, instance_type: str) -> Resource: ...

    def delete(self, resource_id: str) -> None:
        """Terminate or delete any resource; deleting what is already gone is not an error."""

    def list_owned(self, tags: dict[str, str]) -> list[Resource]:
        """Every live resource whose tags include `tags` (e.g. {"strata:cluster": id})."""

    def builder_connection(self, builder: Resource) -> dict[str, str]:
        """Ansible variables that reach a running image builder: how to connect (`ansible_connection`,
        host, user, key) and `image_root`, the path of the root filesystem the roles customize ("/" on
        a real VM)."""

    def poll_delay(self, resource: Resource) -> float:
        """Seconds until a pending resource is worth looking at again, from the cloud's typical latency
        for its kind and the resource's age."""
