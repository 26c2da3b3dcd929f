"""Step handlers of the provisioner service: each an idempotent `ensure_*` over the cloud driver.

Every create carries an idempotency token derived from the cluster and the step name (stable
across attempts and generations) and the cluster's ownership tags, so a step killed after the
cloud call finds its resource instead of making a second one.
"""

from __future__ import annotations

from strata_common import pki
from strata_common.cloud_steps import cloud, layer, owner, record_status, status_of, token, wait_ready
from strata_common.clouds.driver import LaunchSpec
from strata_common.db.queries import clusters, secrets
from strata_common.engine.errors import Retry, StepError
from strata_common.engine.registry import step_handler
from strata_common.engine.runner import StepContext
from strata_common.model.cluster import CONTROL_PLANE, NodeTemplate
from strata_provisioner.bootstrap import kubeadm_documents, user_data

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
        made = driver.ensure_security_groups(ctx.spec.region, network, SECURITY_GROUPS, owner(ctx), token(ctx))
    groups = {name: group.id for name, group in made.items()}
    record_status(ctx, securityGroups=groups)
    return {"groups": groups}


@step_handler("provisioner", "ensure_load_balancer")
def ensure_load_balancer(ctx: StepContext) -> dict:
    network, group = status_of(ctx, "network"), status_of(ctx, "securityGroups")["load-balancer"]
    with cloud(ctx) as driver:
        balancer = driver.ensure_load_balancer(ctx.spec.region, network, API_PORT, owner(ctx), token(ctx), (group,))
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


def _node_user_data(ctx: StepContext, node: NodeTemplate, kubernetes: dict, values: dict) -> str:
    endpoint = status_of(ctx, "endpoint").removeprefix("https://")
    with ctx.db.connection() as conn:
        cluster_secrets = secrets.unsealed(conn, ctx.step.cluster_id, ctx.settings.secret_key)
    if cluster_secrets is None:
        raise StepError("SecretsMissing", "the cluster's PKI does not exist yet")
    bootstrap_node = {"name": node.name, "pool": node.pool, "role": node.role, "index": node.index}
    return user_data(kubeadm_documents(bootstrap_node, node.init, endpoint, kubernetes["kubernetes"], values,
                                       cluster_secrets))  # fmt: skip


@step_handler("provisioner", "ensure_node")
def ensure_node(ctx: StepContext) -> dict:
    node = NodeTemplate.from_json(ctx.step.input)
    role = "control-plane" if node.role == CONTROL_PLANE else "workers"
    kubernetes, values = layer(ctx, "k8s")
    version = kubernetes["kubernetes"]["version"]
    tags = {**owner(ctx), "strata:pool": node.pool, "strata:role": role, "strata:node": ctx.step.name,
            "strata:kubernetes": f"v{version.lstrip('v')}"}  # fmt: skip
    launch_token = token(ctx)
    ctx.note(token=launch_token)  # stored before the cloud is called: a re-run finds what it launched
    ctx.kill_point("before-cloud-call")
    launch = LaunchSpec(
        region=ctx.spec.region,
        zone=node.zone,
        instance_type=node.instance_type,
        image=status_of(ctx, "image"),
        user_data=_node_user_data(ctx, node, kubernetes, values),
        tags=tags,
        token=launch_token,
        subnet=status_of(ctx, "subnets")[role][node.zone],
        security_groups=(status_of(ctx, "securityGroups")[role],),
        disk_gib=node.disk_gib,
    )
    with cloud(ctx) as driver:
        instance = driver.run_instance(launch)
        ctx.kill_point("after-cloud-call")
        instance = wait_ready(driver, instance)
        if node.role == CONTROL_PLANE:  # the API's load balancer sends to every control-plane node
            driver.register_targets(status_of(ctx, "loadBalancer"), [instance.id])
    return {"instance": instance.id, "zone": instance.zone, "pool": node.pool}


@step_handler("provisioner", "finalize_create")
def finalize_create(ctx: StepContext) -> dict:
    with ctx.db.connection() as conn:
        clusters.set_phase(conn, ctx.step.cluster_id, ctx.step.generation, "Running")
    ctx.event("info", "ClusterRunning", f"cluster {ctx.cluster['name']} is running")
    return {}


def _delete_owned(ctx: StepContext, kinds: tuple[str, ...]) -> list[str]:
    with cloud(ctx) as driver:
        owned = driver.list_owned(owner(ctx), kinds)
        for resource in owned:
            driver.delete(resource.id)
            ctx.kill_point("after-cloud-call")
    return [r.id for r in owned]


@step_handler("provisioner", "delete_nodes")
def delete_nodes(ctx: StepContext) -> dict:
    return {"deleted": _delete_owned(ctx, ("instance",))}


@step_handler("provisioner", "delete_infrastructure")
def delete_infrastructure(ctx: StepContext) -> dict:
    deleted = _delete_owned(ctx, ("load_balancer", "security_group", "key_pair"))
    deleted += _delete_owned(ctx, ("subnet", "internet_gateway"))  # what a network must lose before it goes
    deleted += _delete_owned(ctx, ("network",))
    return {"deleted": deleted}


@step_handler("provisioner", "sweep")
def sweep(ctx: StepContext) -> dict:
    """The leak sweep: anything still tagged with this cluster is deleted and the sweep looks again."""
    with cloud(ctx) as driver:
        left = driver.list_owned(owner(ctx))
        for resource in left:
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
