"""An emulated cluster for the Kubernetes API tests: a cluster row with its PKI, a load balancer and
running instances in the local cloud, the emulator process, and its admin kubeconfig."""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass

import yaml
from engine_support import new_cluster, start_worker
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from helpers import STRATA, wait_until
from strata_common import pki
from strata_common.bootstrap import kubeadm_documents, user_data
from strata_common.clouds.driver import LaunchSpec
from strata_common.crypto import SecretBox
from strata_common.kube.access import KubeAccess, kubeconfig
from strata_localcloud.cloud import LatencyModel, LocalCloud

KUBERNETES = {"version": "1.32.1"}


@dataclass
class EmulatedCluster:
    id: str
    kubeconfig: dict
    access: KubeAccess


def start_kubeapi(processes, env: dict[str, str]) -> dict[str, str]:
    """Start the emulator at the environment's STRATA_KUBEAPI_URL and wait until it listens."""
    processes.start("kubeapi", [*STRATA, "serve", "kubeapi"], env)
    port = int(env["STRATA_KUBEAPI_URL"].rsplit(":", 1)[1])

    def listening() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_until(listening, timeout=30, message="the Kubernetes API emulator to listen")
    return env


def start_addons(processes, env: dict[str, str]) -> None:
    """The emulator and the add-ons worker: what a cluster's packs need after its nodes."""
    start_kubeapi(processes, env)
    start_worker(processes, env, "addons")


def emulated_cluster(database_url: str, env: dict[str, str], workers: int = 2) -> EmulatedCluster:
    """A cluster as the provisioner leaves it: PKI, API load balancer, one control-plane and `workers` nodes
    (and an image builder at work)."""
    cluster_id = new_cluster(database_url)
    secrets = pki.generate(f"c-{cluster_id.hex[:8]}")
    with ConnectionPool(database_url, kwargs={"row_factory": dict_row}, min_size=1, max_size=2) as pool:
        with pool.connection() as conn:
            conn.execute(
                "INSERT INTO cluster_secrets (cluster_id, sealed, ca_cert) VALUES (%s, %s, %s)",
                (cluster_id, SecretBox(env["STRATA_SECRET_KEY"]).seal(secrets), secrets["caCert"]),
            )
        cloud = LocalCloud(pool, LatencyModel(0))
        owner = {"strata:cluster": str(cluster_id), "strata:managed-by": "strata"}
        network = cloud.ensure_network("local-1", "10.0.0.0/16", ["local-1a"], owner, f"{cluster_id}:net")
        balancer = cloud.ensure_load_balancer("local-1", network.id, 6443, owner, f"{cluster_id}:lb")
        endpoint = f"{balancer.spec['dnsName']}:6443"
        for index in range(1 + workers):
            role = "controlPlane" if index == 0 else "worker"
            node = {"name": f"node-{index}", "pool": "cp" if index == 0 else "workers", "role": role}
            documents = kubeadm_documents(node, index == 0, endpoint, KUBERNETES, {}, secrets)
            tags = {**owner, "strata:role": "control-plane" if index == 0 else "workers",
                    "strata:pool": node["pool"], "strata:node": f"ensure_node/{node['name']}",
                    "strata:kubernetes": f"v{KUBERNETES['version']}"}  # fmt: skip
            cloud.run_instance(LaunchSpec("local-1", "local-1a", "large", "ubuntu-22.04", user_data(documents), tags,
                                          f"{cluster_id}:{index}:{uuid.uuid4()}"))  # fmt: skip
        builder = {**owner, "strata:role": "image-builder"}  # the cluster's, but never a node
        cloud.run_instance(
            LaunchSpec("local-1", "local-1a", "medium", "ubuntu-22.04", "", builder, f"{cluster_id}:builder")
        )
    server = f"{env['STRATA_KUBEAPI_URL']}/clusters/{cluster_id}"
    access = KubeAccess(server, balancer.spec["dnsName"], secrets["caCert"], secrets["adminCert"],
                        secrets["adminKey"], secrets["clusterName"])  # fmt: skip
    return EmulatedCluster(str(cluster_id), yaml.safe_load(kubeconfig(access)), access)
