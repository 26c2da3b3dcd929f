"""A machine's life as two steps: `ensure_node/<machine>` launches its instance (found again by its
launch token after a crash), registers a control-plane node with the API load balancer and waits
for the Kubernetes Node (Ready, once the cluster has its CNI); `retire_node/<machine>` cordons and
drains the Node through the Eviction API, removes a control-plane node's etcd member and load
balancer target, deletes the instance and then the Node. Each moves the machines row through its phases
(Provisioning, Running, Draining, Deleting, Deleted) and says so in the event stream.
"""

from __future__ import annotations

import time
from typing import Any

from strata_common.bootstrap import control_plane_files, kube_vip_file, kubeadm_documents, user_data
from strata_common.cloud_steps import cloud, layer, owner, status_of, token, wait_ready
from strata_common.clouds.driver import GONE, LOAD_BALANCER, LaunchSpec, capabilities
from strata_common.db.queries import machines, secrets
from strata_common.engine.errors import USER_FIXABLE, Retry, StepError
from strata_common.engine.registry import step_handler
from strata_common.engine.runner import StepContext
from strata_common.kube.client import condition_true
from strata_common.kube_steps import kube
from strata_common.model.cluster import CONTROL_PLANE, DELETED, NodeTemplate
from strata_provisioner.drain import drain

NODE_POLL_SECONDS = 5.0  # x the time scale: how often a step looks for its Node to join


def _poll(ctx: StepContext) -> float:
    return max(0.25, NODE_POLL_SECONDS * ctx.settings.localcloud_time_scale)


def _node_user_data(ctx: StepContext, node: NodeTemplate, kubernetes: dict, values: dict, virtual_ip: bool) -> str:
    """The node's cloud-init; a control-plane node on a cloud without load balancers also serves the
    endpoint's virtual IP (kube-vip)."""
    endpoint = status_of(ctx, "endpoint").removeprefix("https://")
    with ctx.db.connection() as conn:
        cluster_secrets = secrets.unsealed(conn, ctx.step.cluster_id, ctx.settings.secret_key)
    if cluster_secrets is None:
        raise StepError("SecretsMissing", "the cluster's PKI does not exist yet")
    bootstrap_node = {"name": node.name, "pool": node.pool, "role": node.role, "index": node.index}
    files = control_plane_files(cluster_secrets) if node.role == CONTROL_PLANE else []
    if virtual_ip and node.role == CONTROL_PLANE:
        address, _, port = endpoint.rpartition(":")
        files.append(kube_vip_file(address, int(port), node.init))
    return user_data(kubeadm_documents(bootstrap_node, node.init, endpoint, kubernetes["kubernetes"], values,
                                       cluster_secrets), files)  # fmt: skip


def _role(node: NodeTemplate) -> str:
    return "control-plane" if node.role == CONTROL_PLANE else "workers"


@step_handler("provisioner", "ensure_node")
def ensure_node(ctx: StepContext) -> dict:
    node = NodeTemplate.from_json(ctx.step.input)
    kubernetes, values = layer(ctx, "k8s")
    version = kubernetes["kubernetes"]["version"]
    os_layer = ctx.spec.layer_of("os")
    tags = {**owner(ctx), "strata:pool": node.pool, "strata:role": _role(node), "strata:node": ctx.step.name,
            "strata:kubernetes": f"v{version.lstrip('v')}", "strata:os": f"{os_layer.pack}@{os_layer.version}",
            "strata:template": node.template_hash}  # fmt: skip
    launch_token = token(ctx)
    ctx.note(token=launch_token)  # stored before the cloud is called: a re-run finds what it launched
    ctx.kill_point("before-cloud-call")
    group = status_of(ctx, "securityGroups").get(_role(node))  # none on a cloud without security groups
    with cloud(ctx) as driver:
        virtual_ip = LOAD_BALANCER not in capabilities(driver)
        launch = LaunchSpec(
            region=ctx.spec.region,
            zone=node.zone,
            instance_type=node.instance_type,
            image=status_of(ctx, "image"),
            user_data=_node_user_data(ctx, node, kubernetes, values, virtual_ip),
            tags=tags,
            token=launch_token,
            subnet=status_of(ctx, "subnets")[_role(node)][node.zone],
            security_groups=(group,) if group else (),
            disk_gib=node.disk_gib,
        )
        instance = driver.run_instance(launch)
        with ctx.db.connection() as conn:
            machines.launched(conn, ctx.step.cluster_id, node.name, instance.id)
        ctx.kill_point("after-cloud-call")
        instance = wait_ready(driver, instance)
        if node.role == CONTROL_PLANE:  # the API's load balancer sends to every control-plane node
            driver.register_targets(status_of(ctx, "loadBalancer"), [instance.id])
    with kube(ctx) as client:
        found = client.get("v1", "Node", None, node.name)
    # A new cluster's Nodes turn Ready only once its CNI runs (later in the plan): they must have joined.
    # A node that replaces or adds to a running cluster must be Ready before anything leaves.
    if found is None or (ctx.step.input.get("waitReady") and not condition_true(found)):
        raise Retry(_poll(ctx), f"node {node.name} ({instance.id}) is joining the cluster")
    with ctx.db.connection() as conn:
        became = machines.running(conn, ctx.step.cluster_id, node.name, found["metadata"]["name"])
    if became:
        ctx.event("info", "NodeReady", f"node {node.name} joined (pool {node.pool}, {node.zone}, {instance.id})",
                  {"machine": node.name, "instance": instance.id, "zone": node.zone, "pool": node.pool})  # fmt: skip
    return {"instance": instance.id, "zone": instance.zone, "pool": node.pool}


def _drain_timeout(ctx: StepContext, pool_name: str) -> float:
    pool = ctx.spec.pool(pool_name)
    if pool is not None and pool.drain_timeout is not None:
        return pool.drain_timeout
    return 600.0 * ctx.settings.localcloud_time_scale


@step_handler("provisioner", "retire_node")
def retire_node(ctx: StepContext) -> dict:
    name = ctx.step.name.split("/", 1)[1]
    reason = ctx.step.input.get("reason", "")
    with ctx.db.connection() as conn:
        row = machines.row(conn, ctx.step.cluster_id, name)
        if row is None or row["phase"] == DELETED:
            return {"deleted": None}
        machines.draining(conn, ctx.step.cluster_id, name)
    node = NodeTemplate.from_json(row["template"])
    if not (ctx.step.output or {}).get("drainStartedAt"):
        ctx.note(drainStartedAt=time.time())  # wall clock: the next attempt may run on another machine
        ctx.event("info", "NodeDraining", f"node {name} leaves the cluster ({reason}): cordoned and drained",
                  {"machine": name, "reason": reason})  # fmt: skip
    started = (ctx.step.output or {}).get("drainStartedAt") or time.time()
    with kube(ctx) as client:
        blocked = drain(client, name)
        if blocked:
            waited = time.time() - started
            if waited > _drain_timeout(ctx, node.pool):
                raise StepError("DrainBlocked", f"draining node {name} is blocked for {waited:.0f}s: {blocked}; "
                                "the rollout goes on once the budget allows it", USER_FIXABLE)  # fmt: skip
            raise Retry(_poll(ctx), f"draining node {name}: {blocked}")
    ctx.kill_point("after-drain")
    instances = _instances(ctx, row)
    if node.role == CONTROL_PLANE:
        if not (ctx.step.output or {}).get("etcdMemberRemoved"):
            # Emulated: kubeadm reset's `etcdctl member remove` of the node's member, before its instance goes.
            ctx.note(etcdMemberRemoved=True)
            ctx.event("info", "EtcdMemberRemoved", f"etcd member of {name} removed", {"machine": name})
        with cloud(ctx) as driver:
            driver.deregister_targets(status_of(ctx, "loadBalancer"), instances)
    with ctx.db.connection() as conn:
        machines.deleting(conn, ctx.step.cluster_id, name)
    ctx.kill_point("before-delete")
    with cloud(ctx) as driver:
        for instance in instances:
            driver.delete(instance)
    with kube(ctx) as client:  # as Cluster API does: the Node goes with its machine, not when a controller notices
        client.delete("v1", "Node", None, name)
    with ctx.db.connection() as conn:
        machines.deleted(conn, ctx.step.cluster_id, name)
    ctx.event("info", "NodeDeleted", f"node {name} deleted ({reason})",
              {"machine": name, "reason": reason, "instances": instances})  # fmt: skip
    return {"deleted": instances}


def _instances(ctx: StepContext, row: dict[str, Any]) -> list[str]:
    """The machine's live instances: the one it recorded, and any its launch token made (a step killed
    between the launch and the record)."""
    with cloud(ctx) as driver:
        tagged = driver.list_owned({**owner(ctx), "strata:node": f"ensure_node/{row['name']}"}, ("instance",))
    found = {r.id for r in tagged if r.state != GONE}
    if row["instance_id"]:
        found.add(row["instance_id"])
    return sorted(found)
