"""The narrow boundary every cloud implements: networks, security groups, load balancers, images,
instances, and listing what a cluster owns (for leak sweeps)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

# Normalized states: every driver maps its cloud's words (running, available, terminated, ...) to these.
PENDING, READY, DELETING, GONE, FAILED = "pending", "ready", "deleting", "gone", "failed"
STATES = (PENDING, READY, DELETING, GONE, FAILED)

# Tags a listing must match: a tuple value matches any of its strings (one listing for many clusters).
TagFilter = dict[str, str | tuple[str, ...]]


@dataclass(frozen=True)
class Resource:
    """Anything a cloud holds for a cluster: `state` is one of STATES, `native_state` the cloud's own word."""

    id: str
    kind: str
    region: str
    zone: str | None
    state: str
    spec: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    native_state: str = ""


@dataclass(frozen=True)
class LaunchSpec:
    """One instance to launch: where, what, on which network, and the token that makes a retry find it."""

    region: str
    zone: str | None
    instance_type: str
    image: str
    user_data: str
    tags: dict[str, str]
    token: str
    subnet: str | None = None
    security_groups: tuple[str, ...] = ()
    disk_gib: int = 40
    ssh_key: str | None = None  # an OpenSSH public key the instance accepts (image builders)
    identity: str | None = None


def token_hash(token: str, length: int = 16) -> str:
    """A name-safe digest of an idempotency token, for clouds whose names are the idempotency (or hold it)."""
    return hashlib.sha256(token.encode()).hexdigest()[:length]


# The roles whose nodes live apart: a subnet and a security group each (the seed: "isolating master
# and worker nodes in dedicated network domains").
NODE_ROLES = ("control-plane", "workers")

# What a cloud may lack (a driver's `capabilities`; a driver without the attribute has them all):
# security groups of its own (vSphere without NSX has none: isolation is the port groups' business), and
# a load balancer of its own (vSphere's control-plane endpoint is a virtual IP that kube-vip serves
# from the control-plane nodes).
SECURITY_GROUPS, LOAD_BALANCER = "security-groups", "load-balancer"
ALL_CAPABILITIES = frozenset({SECURITY_GROUPS, LOAD_BALANCER})


def capabilities(driver: object) -> frozenset[str]:
    return frozenset(getattr(driver, "capabilities", ALL_CAPABILITIES))


# Normalized error kinds: every driver maps its cloud's codes to these in one place.
QUOTA, CAPACITY, AUTH, NOT_FOUND, THROTTLED, INVALID, CONFLICT, UNAVAILABLE = (
    "quota", "capacity", "auth", "not-found", "throttled", "invalid", "conflict", "unavailable",
)  # fmt: skip
USER_FIXABLE_KINDS = frozenset({QUOTA, CAPACITY, AUTH, INVALID})  # a retry alone will not fix these


class CloudError(Exception):
    """A refusal by the cloud: its normalized `kind`, and its code and message as the cloud words them
    (shown to the user as they are). Quota, capacity, credentials and invalid requests need a user;
    throttling, not-found (eventual consistency), conflicts and outages are retried."""

    def __init__(self, kind: str, code: str, message: str, setting: str | None = None, retry_after: float = 0.0):
        super().__init__(f"{code}: {message}")
        self.kind = kind
        self.code = code
        self.message = message
        self.setting = setting  # the account setting the refusal is about ("datacenter"), when it is one
        self.retry_after = retry_after  # seconds the cloud asked to wait before the next call (throttling)
        self.user_fixable = kind in USER_FIXABLE_KINDS


class CloudDriver(Protocol):
    """Every create takes an idempotency `token` (derived from the step, stable across attempts) and
    ownership `tags`. The idempotency duty: a driver uses the cloud's native token where it has one
    (EC2's ClientToken), tags what it creates with the token, and looks the token up before creating,
    so a retry after a crash finds the first resource instead of making a second."""

    def ensure_network(
        self, region: str, cidr: str, zones: list[str], tags: dict[str, str], token: str,
        roles: tuple[str, ...] = NODE_ROLES,
    ) -> Resource:  # fmt: skip
        """A network with one subnet per role and zone: spec["subnets"] is {role: {zone: subnet id}}."""

    def ensure_security_groups(
        self, region: str, network_id: str, groups: dict[str, list[dict[str, Any]]], tags: dict[str, str], token: str
    ) -> dict[str, Resource]:
        """Security groups by name, made in two passes: every group first, then their ingress rules,
        which may name other groups of the set as sources. A rule is {"protocol": "tcp"|"udp",
        "ports": "6443" or "30000-32767", "from": [group names], "cidrs": [CIDRs], "why": text}.
        Each group's spec["rules"] reads the rules back from the cloud with `from` as group ids."""

    def ensure_load_balancer(
        self, region: str, network_id: str, port: int, tags: dict[str, str], token: str,
        security_groups: tuple[str, ...] = (),
    ) -> Resource:  # fmt: skip
        """A TCP load balancer on `port` in the network's control-plane subnets; spec["dnsName"] is its name."""

    def register_targets(self, load_balancer_id: str, instance_ids: list[str]) -> Resource:
        """Add instances to the load balancer's targets (those already there stay); spec["targets"] lists them."""

    def deregister_targets(self, load_balancer_id: str, instance_ids: list[str]) -> Resource:
        """Remove instances from the load balancer's targets (those not there are no error)."""

    def find_images(self, region: str, tags: dict[str, str]) -> list[Resource]: ...

    def catalog_image(self, region: str, reference: dict[str, Any]) -> str:
        """The id of an OS pack's out-of-the-box image in `region`, from the pack's reference for this
        cloud (`os.images.<cloud>`: an AMI owner and name pattern per region, a template, ...)."""

    def copy_image(self, image_id: str, region: str, tags: dict[str, str], token: str) -> Resource: ...

    def create_image(self, instance_id: str, tags: dict[str, str], token: str) -> Resource: ...

    def run_instance(self, launch: LaunchSpec) -> Resource: ...

    def describe(self, ids: list[str]) -> list[Resource]: ...

    def change_instance_type(self, instance_id: str, instance_type: str) -> Resource: ...

    def delete(self, resource_id: str) -> None:
        """Terminate or delete any resource; deleting what is already gone is not an error."""

    def list_owned(self, tags: TagFilter, kinds: tuple[str, ...] | None = None) -> list[Resource]:
        """Every live resource whose tags include `tags` (e.g. {"strata:cluster": id}; a tuple value: any of
        up to 100 strings), of `kinds` only if given."""

    def builder_connection(self, builder: Resource, user: str | None = None) -> dict[str, str]:
        """Ansible variables that reach a running image builder: how to connect (`ansible_connection`,
        host, port, `user` as the OS image names it; over SSH the caller adds the key it launched
        the builder with) and `image_root`, the root filesystem the roles customize ("/" on a real VM)."""

    def poll_delay(self, resource: Resource) -> float:
        """Seconds until a pending resource is worth looking at again, from the cloud's typical latency
        for its kind and the resource's age."""
