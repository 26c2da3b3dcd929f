"""Step handlers of the provisioner service for a cluster's infrastructure, its phase and its delete:
each an idempotent `ensure_*` over the cloud driver (nodes are in `nodes`).

Every create carries an idempotency token derived from the cluster and the step name (stable
across attempts and generations) and the cluster's ownership tags, so a step killed after the
cloud call finds its resource instead of making a second one.
"""

from __future__ import annotations

from strata_common import pki
from strata_common.cloud_steps import cloud, owner, record_status, status_of, token, wait_ready
from strata_common.clouds.driver import DELETING, capabilities
from strata_common.clouds.driver import SECURITY_GROUPS as SECURITY_GROUP_CAPABILITY
from strata_common.db.queries import clusters, machines, secrets
from strata_common.db.types import DbConnection
from strata_common.engine import steps
from strata_common.engine.errors import Retry
from strata_common.engine.registry import step_handler
from strata_common.engine.runner import StepContext

NETWORK_CIDR = "10.0.0.0/16"
API_PORT = 6443
# Ingress by group, made in two passes (groups, then rules naming each other): the API's load
# balancer takes 6443 from anywhere and passes it on; the nodes open only what Kubernetes, etcd and
# the CNI need, to each other. Nothing else is open to 0.0.0.0/0.
SECURITY_GROUPS = {
    "load-balancer": [
        {"protocol": "tcp", "ports": "6443", "cidrs": ["0.0.0.0/0"], "why": "Kubernetes API"},
    ],
    "control-plane": [
        {"protocol": "tcp", "ports": "6443", "from": ["load-balancer", "control-plane", "workers"],
         "why": "API server"},
        {"protocol": "tcp", "ports": "2379-2380", "from": ["control-plane"], "why": "etcd client and peer"},
        {"protocol": "tcp", "ports": "10250", "from": ["control-plane"], "why": "kubelet"},
        {"protocol": "tcp", "ports": "10257", "from": ["control-plane"], "why": "controller manager"},
        {"protocol": "tcp", "ports": "10259", "from": ["control-plane"], "why": "scheduler"},
        {"protocol": "udp", "ports": "4789", "from": ["control-plane", "workers"], "why": "CNI VXLAN"},
    ],
    "workers": [
        {"protocol": "tcp", "ports": "10250", "from": ["control-plane"], "why": "kubelet"},
        {"protocol": "tcp", "ports": "30000-32767", "cidrs": [NETWORK_CIDR], "why": "NodePort services"},
        {"protocol": "udp", "ports": "4789", "from": ["control-plane", "workers"], "why": "CNI VXLAN"},
    ],
}  # fmt: skip


@step_handler("provisioner", "ensure_network")
def ensure_network(ctx: StepContext) -> dict:
    with cloud(ctx) as driver:
        network = driver.ensure_network(ctx.spec.region, NETWORK_CIDR, ctx.spec.zones(), owner(ctx), token(ctx))
    subnets = network.spec["subnets"]  # {role: {zone: subnet}}: control plane and workers apart
    record_status(ctx, network=network.id, subnets=subnets)
    return {"network": network.id, "subnets": subnets}


@step_handler("provisioner", "ensure_security_groups")
def ensure_security_groups(ctx: StepContext) -> dict:
    network = status_of(ctx, "network")
    with cloud(ctx) as driver:
        if SECURITY_GROUP_CAPABILITY not in capabilities(driver):  # vSphere without NSX
            ctx.event("info", "SecurityGroupsSkipped", f"the {ctx.spec.cloud_type} cloud has no security groups: "
                      "keep control-plane and worker port groups apart with the network's own firewall")  # fmt: skip
            record_status(ctx, securityGroups={})
            return {"groups": {}}
        made = driver.ensure_security_groups(ctx.spec.region, network, SECURITY_GROUPS, owner(ctx), token(ctx))
    groups = {name: group.id for name, group in made.items()}
    record_status(ctx, securityGroups=groups)
    return {"groups": groups}


@step_handler("provisioner", "ensure_load_balancer")
def ensure_load_balancer(ctx: StepContext) -> dict:
    network, group = status_of(ctx, "network"), status_of(ctx, "securityGroups").get("load-balancer")
    with cloud(ctx) as driver:  # on a cloud without load balancers: a virtual IP the control-plane nodes serve
        balancer = driver.ensure_load_balancer(ctx.spec.region, network, API_PORT, owner(ctx), token(ctx),
                                               (group,) if group else ())  # fmt: skip
        balancer = wait_ready(driver, balancer)
    endpoint = f"https://{balancer.spec['dnsName']}:{API_PORT}"
    record_status(ctx, loadBalancer=balancer.id, endpoint=endpoint)
    return {"loadBalancer": balancer.id, "endpoint": endpoint}


@step_handler("provisioner", "ensure_cluster_secrets")
def ensure_cluster_secrets(ctx: StepContext) -> dict:
    """Generate the cluster's PKI once; a re-run (or a racing one) keeps the first."""
    with ctx.db.connection() as conn:
        ca_cert = secrets.ca_cert(conn, ctx.step.cluster_id)
    if ca_cert is None:
        generated = pki.generate(ctx.cluster["name"])
        with ctx.db.connection() as conn:
            ca_cert = secrets.store_once(conn, ctx.step.cluster_id, generated, ctx.settings.secret_key)
    return {"caCertHash": pki.ca_cert_hash(ca_cert)}


@step_handler("provisioner", "finalize_create")
def finalize_create(ctx: StepContext) -> dict:
    _running(ctx)
    ctx.event("info", "ClusterRunning", f"cluster {ctx.cluster['name']} is running")
    return {}


@step_handler("provisioner", "finalize_update")
def finalize_update(ctx: StepContext) -> dict:
    _running(ctx)
    ctx.event("info", "ClusterUpdated", f"cluster {ctx.cluster['name']} runs generation {ctx.step.generation}")
    return {}


def _running(ctx: StepContext) -> None:
    """Running, with its first health check due one interval from now: committed with the step's success,
    so a cluster is never seen Running while its Ready condition still says Reconciling."""

    def running(conn: DbConnection) -> None:
        clusters.set_phase(conn, ctx.step.cluster_id, ctx.step.generation, "Running")
        clusters.health_due(conn, ctx.step.cluster_id, ctx.settings.health_interval)

    ctx.on_success(running)


def _delete_owned(ctx: StepContext, kinds: tuple[str, ...]) -> list[str]:
    with cloud(ctx) as driver:
        owned = driver.list_owned(owner(ctx), kinds)
        for resource in owned:
            driver.delete(resource.id)
            ctx.kill_point("after-cloud-call")
    return [r.id for r in owned]


@step_handler("provisioner", "delete_nodes")
def delete_nodes(ctx: StepContext) -> dict:
    deleted = _delete_owned(ctx, ("instance",))
    with ctx.db.connection() as conn:
        machines.deleted(conn, ctx.step.cluster_id)
    return {"deleted": deleted}


@step_handler("provisioner", "delete_infrastructure")
def delete_infrastructure(ctx: StepContext) -> dict:
    groups = _delete_owned(ctx, ("resource_group",))  # Azure: the cluster's resource group goes with all in it
    if groups:
        return {"deleted": groups}
    deleted = _delete_owned(ctx, ("load_balancer", "security_group", "key_pair"))
    deleted += _delete_owned(ctx, ("subnet", "internet_gateway", "resource_pool"))  # before their network goes
    deleted += _delete_owned(ctx, ("network",))
    return {"deleted": deleted}


@step_handler("provisioner", "sweep")
def sweep(ctx: StepContext) -> dict:
    """The leak sweep: anything still tagged with this cluster is deleted (unless its delete is under way
    already) and the sweep looks again, until nothing is left. It looks once no step of the create or
    update this delete superseded is running any more (such a step may still be launching a node)."""
    with ctx.db.connection() as conn:
        running = steps.running_older(conn, ctx.step.cluster_id, ctx.step.generation)
    if running:
        raise Retry(1, f"waiting for {len(running)} steps of an earlier generation to stop: {running}")
    with cloud(ctx) as driver:
        left = driver.list_owned(owner(ctx))
        for resource in left:
            if resource.state != DELETING:
                driver.delete(resource.id)
    if left:
        raise Retry(1, f"{len(left)} resources were still tagged with the cluster: {[r.id for r in left]}")
    return {"left": 0}


@step_handler("provisioner", "finalize_delete")
def finalize_delete(ctx: StepContext) -> dict:
    """The last step of a delete: runs after the sweep found nothing, then the cluster is gone."""
    with ctx.db.connection() as conn:
        clusters.mark_deleted(conn, ctx.step.cluster_id)
    ctx.event("info", "ClusterDeleted", f"cluster {ctx.cluster['name']} deleted")
    return {"deleted": True}
