"""`strata-agent`: the agent as a process. Settings from the environment: STRATA_AGENT_API (the control
plane's URL), STRATA_AGENT_CLUSTER (its cluster's id), STRATA_AGENT_TOKEN (its token, good for that
cluster's agent API only) and STRATA_AGENT_TOKEN_EXPIRES (when it ends; the agent rotates it at half its
life and writes the new one to the Secret STRATA_AGENT_TOKEN_SECRET, `namespace/name`, so a restarted pod
has it), optionally STRATA_AGENT_CA_FILE (the control plane's CA), STRATA_AGENT_INTERVAL (seconds
between polls; drift is looked for every 6) and STRATA_AGENT_LONG_POLL (seconds the control plane may
hold a poll until the desired state changes, 25 by default; 0: plain polls). Its cluster's API:
in-cluster (the pod's service account token, CA and namespace under
STRATA_AGENT_SERVICEACCOUNT_DIR, /var/run/secrets/kubernetes.io/serviceaccount by default, and
https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT unless STRATA_AGENT_KUBE_SERVER and
STRATA_AGENT_KUBE_SERVER_NAME say otherwise), or a kubeconfig file named by STRATA_AGENT_KUBECONFIG."""

from __future__ import annotations

import base64
import logging
import os
import signal
import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import yaml

from strata_agent.agent import Agent
from strata_agent.control_plane import ControlPlane
from strata_agent.reconcile import MANAGER, Reconciler
from strata_common.kube.access import KubeAccess
from strata_common.kube.client import KubeClient

SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
log = logging.getLogger(__name__)


def access_from_kubeconfig(text: str) -> KubeAccess:
    """The current context's server, CA and client certificate of a kubeconfig."""
    config = yaml.safe_load(text)
    context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])

    def data(field: str) -> str:
        return base64.b64decode(field).decode()

    return KubeAccess(cluster["server"], cluster.get("tls-server-name"),
                      data(cluster["certificate-authority-data"]), data(user["client-certificate-data"]),
                      data(user["client-key-data"]), context["cluster"])  # fmt: skip


def in_cluster_access(env: Mapping[str, str]) -> KubeAccess:
    """The pod's own credentials: its service account's token (read again at each request: the kubelet
    renews it) and the cluster's CA."""
    folder = Path(env.get("STRATA_AGENT_SERVICEACCOUNT_DIR") or SERVICEACCOUNT_DIR)
    server = env.get("STRATA_AGENT_KUBE_SERVER") or (
        f"https://{env['KUBERNETES_SERVICE_HOST']}:{env.get('KUBERNETES_SERVICE_PORT', '443')}"
    )
    return KubeAccess(server, env.get("STRATA_AGENT_KUBE_SERVER_NAME") or None, (folder / "ca.crt").read_text(),
                      "", "", "in-cluster", token_file=str(folder / "token"))  # fmt: skip


def token_keeper(client: KubeClient, secret: str):
    """Writes a rotated token (and its expiry) to the agent's Secret."""
    namespace, name = secret.split("/", 1)

    def keep(token: str, expires: datetime) -> None:
        data = {"token": token, "expiresAt": expires.isoformat()}
        client.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
                      "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}},
                     MANAGER, force=True)  # fmt: skip

    return keep


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env = os.environ
    if env.get("STRATA_AGENT_KUBECONFIG"):
        access = access_from_kubeconfig(Path(env["STRATA_AGENT_KUBECONFIG"]).read_text())
    else:
        access = in_cluster_access(env)
    client = KubeClient(access)
    control_plane = ControlPlane(env["STRATA_AGENT_API"], env["STRATA_AGENT_CLUSTER"], env["STRATA_AGENT_TOKEN"],
                                 env.get("STRATA_AGENT_CA_FILE") or None)  # fmt: skip
    expires = env.get("STRATA_AGENT_TOKEN_EXPIRES")
    keep = token_keeper(client, env["STRATA_AGENT_TOKEN_SECRET"]) if env.get("STRATA_AGENT_TOKEN_SECRET") else None
    interval = float(env.get("STRATA_AGENT_INTERVAL", "10"))
    agent = Agent(control_plane, Reconciler(client), interval, drift_interval=6 * interval,
                  token_expires=datetime.fromisoformat(expires) if expires else None, on_rotate=keep,
                  long_poll=float(env.get("STRATA_AGENT_LONG_POLL", "25")))  # fmt: skip
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log.info("strata-agent for cluster %s: polling %s", env["STRATA_AGENT_CLUSTER"], env["STRATA_AGENT_API"])
    while not stop.is_set():
        stop.wait(agent.run_once())


if __name__ == "__main__":
    main()
