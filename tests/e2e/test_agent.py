"""The management agent's own code against a cluster of the local cloud (its emulated Kubernetes API, the
agent reaching it with the kubeconfig the API hands out) and the control plane's agent API over HTTP: it
applies the desired packs under its own field manager, reports, puts back what was deleted and says so,
applies an override, and keeps the cluster as it was while the control plane is out of reach."""

from __future__ import annotations

import psycopg
import pytest
from api_support import LOCAL_PROFILE
from kubernetes import client as k8s
from psycopg.rows import dict_row
from test_addons import create_cluster, kube, wait_phase

from strata_agent.agent import Agent
from strata_agent.control_plane import ControlPlane
from strata_agent.main import access_from_kubeconfig
from strata_agent.reconcile import MANAGER, Reconciler
from strata_common.kube.client import KubeClient


@pytest.fixture
def lab(clients, fleet_env):
    return {"account": clients["operator"].post("/v1/cloudaccounts", {"name": "lab", "cloud": "local"}).json()["id"]}


def _report(database_url: str, cluster_id: str) -> dict:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute("SELECT generation, report FROM agent_reports WHERE cluster_id = %s",
                            (cluster_id,)).fetchone()  # fmt: skip


def test_the_agent_applies_reports_corrects_drift_and_outlasts_the_control_plane(clients, lab, api_base,
                                                                                 database_url):  # fmt: skip
    op = clients["operator"]
    cluster_id = create_cluster(op, lab, {**LOCAL_PROFILE, "name": "pulled"}, name="pulled")
    wait_phase(op, cluster_id)
    token = op.post(f"/v1/clusters/{cluster_id}/agent/token").json()["token"]
    access = access_from_kubeconfig(op.get(f"/v1/clusters/{cluster_id}/kubeconfig").json()["kubeconfig"])
    control_plane = ControlPlane(api_base, cluster_id, token)
    agent = Agent(control_plane, Reconciler(KubeClient(access)), interval=1.0, drift_interval=0.0)

    agent.run_once()  # the desired state: applied under the agent's field manager, then reported
    apps = k8s.AppsV1Api(kube(op, cluster_id))
    prometheus = apps.read_namespaced_deployment("prometheus", "monitoring")
    assert MANAGER in {f.manager for f in prometheus.metadata.managed_fields}
    first = _report(database_url, cluster_id)
    assert first["generation"] == 1
    assert {p["pack"]: p["state"] for p in first["report"]["packs"]} == {
        "calico": "applied", "local-path": "applied", "prometheus": "applied"}  # fmt: skip
    assert len(first["report"]["nodes"]) == 3 and all(n["ready"] for n in first["report"]["nodes"])

    apps.delete_namespaced_deployment("prometheus", "monitoring")  # drift: put back and reported
    agent.run_once()
    assert apps.read_namespaced_deployment("prometheus", "monitoring")
    events = op.get(f"/v1/clusters/{cluster_id}/events", params={"limit": 1000}).json()["items"]
    drift = [e for e in events if e["reason"] == "DriftCorrected" and e["source"] == "agent"]
    assert drift and "Deployment monitoring/prometheus (deleted)" in drift[-1]["data"]["objects"]

    control_plane.base = "http://127.0.0.1:9/v1/agent/clusters/" + cluster_id  # out of reach: nothing changes
    apps.delete_namespaced_deployment("prometheus", "monitoring")
    waited = agent.run_once()
    assert waited > agent.interval  # it backs off
    assert apps.read_namespaced_deployment("prometheus", "monitoring")  # still the last desired state, kept
    control_plane.base = f"{api_base}/v1/agent/clusters/{cluster_id}"

    override = op.put(f"/v1/clusters/{cluster_id}/packs/prometheus/values", {"retention": "30d"})
    assert override.status_code == 202, override.text
    agent.run_once()  # back: the override reaches the cluster through the agent, and the report catches up
    args = apps.read_namespaced_deployment("prometheus", "monitoring").spec.template.spec.containers[0].args
    assert any("30d" in arg for arg in args), args
    assert _report(database_url, cluster_id)["generation"] == override.json()["applying"]["generation"]
