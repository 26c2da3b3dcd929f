"""How a build reaches its builder VM: a network and security group per region kept for builders
(SSH only from STRATA_BUILDER_SSH_CIDR), and an SSH key per build attempt derived from the secret key
and the attempt's token, so a retried or resumed attempt has the same key without storing one."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from strata_common.clouds.driver import SECURITY_GROUPS, CloudDriver, capabilities
from strata_common.engine.runner import StepContext

BUILDER_CIDR = "10.255.0.0/16"
BUILDER_ROLE = "image-builder"


@dataclass(frozen=True)
class BuilderPlacement:
    subnet: str
    security_groups: tuple[str, ...]  # none on a cloud without security groups


@dataclass(frozen=True)
class BuilderKey:
    public: str  # OpenSSH format, for the cloud's key pair
    private: str = field(repr=False)  # OpenSSH PEM, written to a 0600 file only for the length of a build


def builder_key(secret_key: str, attempt_token: str) -> BuilderKey:
    seed = hmac.new(secret_key.encode(), f"builder-ssh:{attempt_token}".encode(), hashlib.sha256).digest()
    key = Ed25519PrivateKey.from_private_bytes(seed)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())  # fmt: skip
    return BuilderKey(f"{public.decode()} strata-image-builder", private.decode())


def placement(ctx: StepContext, driver: CloudDriver, zone: str) -> BuilderPlacement:
    """The region's builder subnet and group, made once per cloud account and region (serialized by a
    lock in PostgreSQL, since a VPC has no idempotency token of its own) and kept for later builds."""
    region = ctx.spec.region
    tags = {"strata:managed-by": "strata", "strata:role": BUILDER_ROLE}
    token = f"{BUILDER_ROLE}:{ctx.spec.cloud_account}:{region}"
    rules = [{"protocol": "tcp", "ports": "22", "cidrs": [ctx.settings.builder_ssh_cidr],
              "why": "ansible over SSH from Strata's image builder"}]  # fmt: skip
    with ctx.db.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (token,))
        network = driver.ensure_network(region, BUILDER_CIDR, [zone], tags, token, roles=(BUILDER_ROLE,))
        if SECURITY_GROUPS not in capabilities(driver):  # vSphere: the builder's port group is the account's
            return BuilderPlacement(network.spec["subnets"][BUILDER_ROLE][zone], ())
        groups = driver.ensure_security_groups(region, network.id, {BUILDER_ROLE: rules}, tags, token)
    return BuilderPlacement(network.spec["subnets"][BUILDER_ROLE][zone], (groups[BUILDER_ROLE].id,))
