"""Step handlers of the provisioner service: each an idempotent `ensure_*` over the cloud driver.

Every create carries an idempotency token derived from the cluster and the step name (stable
across attempts and generations) and the cluster's ownership tags, so a step killed after the
cloud call finds its resource instead of making a second one.
"""

from __future__ import annotations

from strata_common import pki
from strata_common.cloud_steps import cloud, layer, owner, region, step_output, token, wait_ready
from strata_common.crypto import SecretBox
from strata_common.engine.errors import Retry
from strata_common.engine.registry import step_handler
from strata_common.engine.runner import StepContext
from strata_provisioner.bootstrap import kubeadm_documents, user_data

NETWORK_CIDR = "10.0.0.0/16"
API_PORT = 6443
# Rules between the roles' groups: only what Kubernetes, etcd and the CNI need.
CONTROL_PLANE_RULES = [
    {"protocol": "tcp", "ports": "6443", "from": ["load-balancer", "control-plane", "workers"], "why": "API server"},
    {"protocol": "tcp", "ports": "2379-2380", "from": ["control-plane"], "why": "etcd client and peer"},
    {"protocol": "tcp", "ports": "10250", "from": ["control-plane"], "why": "kubelet"},
    {"protocol": "tcp", "ports": "10257-10259", "from": ["control-plane"], "why": "controller manager, scheduler"},
    {"protocol": "udp", "ports": "4789", "from": ["control-plane", "workers"], "why": "CNI VXLAN"},
]
WORKER_RULES = [
    {"protocol": "tcp", "ports": "10250", "from": ["control-plane"], "why": "kubelet"},
    {"protocol": "tcp", "ports": "30000-32767", "from": ["load-balancer"], "why": "NodePort services"},
    {"protocol": "udp", "ports": "4789", "from": ["control-plane", "workers"], "why": "CNI VXLAN"},
]


def _zones(ctx: StepContext) -> list[str]:
    return sorted({zone for pool in ctx.cluster["spec"]["pools"] for zone in pool["zones"]})


@step_handler("provisioner", "ensure_network")
def ensure_network(ctx: StepContext) -> dict:
    with cloud(ctx) as driver:
        network = driver.ensure_network(region(ctx), NETWORK_CIDR, _zones(ctx), owner(ctx), token(ctx))
    subnets = dict(zip(_zones(ctx), network.spec["subnets"], strict=True))
    return {"network": network.id, "subnets": subnets}


@step_handler("provisioner", "ensure_security_groups")
def ensure_security_groups(ctx: StepContext) -> dict:
    network = step_output(ctx, "ensure_network")["network"]
    groups = {}
    with cloud(ctx) as driver:
        for role, rules in (("control-plane", CONTROL_PLANE_RULES), ("workers", WORKER_RULES)):
            tags = {**owner(ctx), "strata:role": role}
            groups[role] = driver.ensure_security_group(
                region(ctx), network, role, rules, tags, token(ctx, f"/{role}")
            ).id
    return {"groups": groups}


@step_handler("provisioner", "ensure_load_balancer")
def ensure_load_balancer(ctx: StepContext) -> dict:
    network = step_output(ctx, "ensure_network")["network"]
    with cloud(ctx) as driver:
        balancer = driver.ensure_load_balancer(region(ctx), network, API_PORT, owner(ctx), token(ctx))
        balancer = wait_ready(driver, balancer, "available")
    return {"loadBalancer": balancer.id, "endpoint": f"https://{balancer.spec['dnsName']}:{API_PORT}"}


@step_handler("provisioner", "ensure_cluster_secrets")
def ensure_cluster_secrets(ctx: StepContext) -> dict:
    """Generate the cluster's PKI once; a re-run (or a racing one) keeps the first."""
    with ctx.db.connection() as conn:
        row = conn.execute(
            "SELECT ca_cert FROM cluster_secrets WHERE cluster_id = %s", (ctx.step.cluster_id,)
        ).fetchone()
    if row is None:
        generated = pki.generate(ctx.cluster["name"])
        with ctx.db.connection() as conn:
            conn.execute(
                "INSERT INTO cluster_secrets (cluster_id, sealed, ca_cert) VALUES (%s, %s, %s)"
                " ON CONFLICT (cluster_id) DO NOTHING",
                (ctx.step.cluster_id, SecretBox(ctx.settings.secret_key).seal(generated), generated["caCert"]),
            )
            row = conn.execute(
                "SELECT ca_cert FROM cluster_secrets WHERE cluster_id = %s", (ctx.step.cluster_id,)
            ).fetchone()
    return {"caCertHash": pki.ca_cert_hash(row["ca_cert"])}


def _secrets(ctx: StepContext) -> dict[str, str]:
    with ctx.db.connection() as conn:
        row = conn.execute(
            "SELECT sealed FROM cluster_secrets WHERE cluster_id = %s", (ctx.step.cluster_id,)
        ).fetchone()
    return SecretBox(ctx.settings.secret_key).open(row["sealed"])


def _node_user_data(ctx: StepContext) -> str:
    node = {**ctx.step.input, "name": ctx.step.name.split("/", 1)[1]}
    first_control_plane = next(p["name"] for p in ctx.cluster["spec"]["pools"] if p["role"] == "controlPlane")
    first = node["role"] == "controlPlane" and node["pool"] == first_control_plane and node["index"] == 0
    endpoint = step_output(ctx, "ensure_load_balancer")["endpoint"].removeprefix("https://")
    kubernetes, values = layer(ctx, "k8s")
    documents = kubeadm_documents(node, first, endpoint, kubernetes["kubernetes"], values, _secrets(ctx))
    return user_data(documents)


@step_handler("provisioner", "ensure_node")
def ensure_node(ctx: StepContext) -> dict:
    node = ctx.step.input
    role = "control-plane" if node["role"] == "controlPlane" else "workers"
    tags = {**owner(ctx), "strata:pool": node["pool"], "strata:role": role, "strata:node": ctx.step.name}
    launch_token = token(ctx)
    ctx.note(token=launch_token)  # stored before the cloud is called: a re-run finds what it launched
    ctx.kill_point("before-cloud-call")
    with cloud(ctx) as driver:
        instance = driver.run_instance(
            region(ctx),
            node["zone"],
            node["instanceType"],
            step_output(ctx, "ensure_image")["image"],
            _node_user_data(ctx),
            tags,
            launch_token,
        )
        ctx.kill_point("after-cloud-call")
        instance = wait_ready(driver, instance, "running")
    return {"instance": instance.id, "zone": instance.zone, "pool": node["pool"]}


@step_handler("provisioner", "finalize_create")
def finalize_create(ctx: StepContext) -> dict:
    with ctx.db.connection() as conn:
        conn.execute(
            "UPDATE clusters SET phase = 'Running', updated_at = now() WHERE id = %s AND generation = %s"
            " AND phase <> 'Deleting'",
            (ctx.step.cluster_id, ctx.step.generation),
        )
    ctx.event("info", "ClusterRunning", f"cluster {ctx.cluster['name']} is running")
    return {}


def _delete_owned(ctx: StepContext, kinds: tuple[str, ...]) -> list[str]:
    with cloud(ctx) as driver:
        owned = [r for r in driver.list_owned(owner(ctx)) if r.kind in kinds]
        for resource in owned:
            driver.delete(resource.id)
    return [r.id for r in owned]


@step_handler("provisioner", "delete_nodes")
def delete_nodes(ctx: StepContext) -> dict:
    return {"deleted": _delete_owned(ctx, ("instance",))}


@step_handler("provisioner", "delete_infrastructure")
def delete_infrastructure(ctx: StepContext) -> dict:
    deleted = _delete_owned(ctx, ("load_balancer", "security_group"))
    deleted += _delete_owned(ctx, ("subnet",))
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
        conn.execute(
            "UPDATE clusters SET phase = 'Deleted', deleted_at = coalesce(deleted_at, now()), updated_at = now()"
            " WHERE id = %s",
            (ctx.step.cluster_id,),
        )
    ctx.event("info", "ClusterDeleted", f"cluster {ctx.cluster['name']} deleted")
    return {"deleted": True}
