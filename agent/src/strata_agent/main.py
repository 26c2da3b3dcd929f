"""`strata-agent`: the agent as a process. Settings from the environment: STRATA_AGENT_API (the control
plane's URL), STRATA_AGENT_CLUSTER (its cluster's id), STRATA_AGENT_TOKEN (its token, good for that
cluster's agent API only), STRATA_AGENT_KUBECONFIG (how it reaches its cluster's API), and optionally
STRATA_AGENT_CA_FILE (the control plane's CA) and STRATA_AGENT_INTERVAL (seconds between polls)."""

from __future__ import annotations

import base64
import logging
import os
import signal
import threading

import yaml

from strata_agent.agent import Agent
from strata_agent.control_plane import ControlPlane
from strata_agent.reconcile import Reconciler
from strata_common.kube.access import KubeAccess
from strata_common.kube.client import KubeClient


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


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env = os.environ
    with open(env["STRATA_AGENT_KUBECONFIG"]) as kubeconfig:
        client = KubeClient(access_from_kubeconfig(kubeconfig.read()))
    control_plane = ControlPlane(env["STRATA_AGENT_API"], env["STRATA_AGENT_CLUSTER"], env["STRATA_AGENT_TOKEN"],
                                 env.get("STRATA_AGENT_CA_FILE") or None)  # fmt: skip
    agent = Agent(control_plane, Reconciler(client), float(env.get("STRATA_AGENT_INTERVAL", "10")))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.is_set():
        stop.wait(agent.run_once())
