"""Pull mode end to end on the local cloud: the add-ons service installs the cluster's agent (its system
pack right after the CNI), the emulator's kubelet runs the agent's own code for the agent's pod (with the
pod's service-account token, under the agent's least RBAC), and the agent pulls the desired state from the
API its cluster calls out to, applies it under its own field manager, reports, corrects drift; the steps
wait for its reports. Then the agents' way in (an API process of its own) is down for 30 s while an
override is pending: the cluster stays as it was, AgentConnected turns False, and the override lands once
the API is back."""

from __future__ import annotations

import time

import pytest
from api_support import LOCAL_PROFILE, Client, cluster_request, make_token
from conftest import start_fleet
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from test_addons import POOLS, events, kube, wait_phase

from helpers import STRATA, free_port, start_api, wait_answering, wait_until
from strata_common.kube.agent_pack import AGENT_MANAGER

AGENT_TIMEOUT = 10


@pytest.fixture(scope="module")
def pull(module_stack) -> dict:
    """A fleet whose agents reach the API at an address of their own (an API process the test stops),
    and a pull-mode cluster Running on it."""
    env, processes = module_stack
    agent_port = free_port()
    env = {**env, "STRATA_AGENT_API_URL": f"http://127.0.0.1:{agent_port}", "STRATA_AGENT_INTERVAL": "1"}
    agent_api = processes.start("agent-api", [*STRATA, "serve", "api"], {**env, "STRATA_API_PORT": str(agent_port)})
    wait_answering(f"{env['STRATA_AGENT_API_URL']}/healthz", "the agents' API")
    env = start_fleet(processes, env)
    base = start_api(processes, env)
    op = Client(base, make_token(env["STRATA_DATABASE_URL"], "pull", "operator"))
    account = op.post("/v1/cloudaccounts", {"name": "lab", "cloud": "local"}).json()["id"]
    profile = op.post("/v1/profiles", {**LOCAL_PROFILE, "name": "pulled"}).json()["id"]
    body = cluster_request(profile, account, name="pulled", pools=POOLS,
                           management={"mode": "pull", "agentTimeout": AGENT_TIMEOUT})  # fmt: skip
    created = op.post("/v1/clusters", body)
    assert created.status_code == 202, created.text
    assert created.json()["management"] == {"mode": "pull", "agentTimeout": AGENT_TIMEOUT, "lastAgentReport": None}
    cluster_id = created.json()["id"]
    wait_phase(op, cluster_id)
    return {"op": op, "id": cluster_id, "env": env, "processes": processes, "agent_api": agent_api,
            "agent_port": agent_port}  # fmt: skip


def condition(op: Client, cluster_id: str, kind: str) -> dict | None:
    return next((c for c in op.get(f"/v1/clusters/{cluster_id}").json()["conditions"] if c["type"] == kind), None)


def managers(obj) -> set[str]:
    return {entry.manager for entry in obj.metadata.managed_fields or []}


def prometheus_args(apps: k8s.AppsV1Api) -> list[str]:
    return apps.read_namespaced_deployment("prometheus", "monitoring").spec.template.spec.containers[0].args


def test_a_pull_cluster_runs_with_packs_its_agent_applied_and_keeps_them(pull):
    op, cluster_id = pull["op"], pull["id"]
    api = kube(op, cluster_id)
    apps, core = k8s.AppsV1Api(api), k8s.CoreV1Api(api)
    agent = apps.read_namespaced_deployment("strata-agent", "strata-system")
    assert agent.status.available_replicas == 1 and agent.spec.template.spec.host_network
    pods = core.list_namespaced_pod("strata-system").items
    assert [p.status.phase for p in pods] == ["Running"]
    for name, namespace, read in (("calico-node", "kube-system", apps.read_namespaced_daemon_set),
                                  ("prometheus", "monitoring", apps.read_namespaced_deployment)):  # fmt: skip
        assert AGENT_MANAGER in managers(read(name, namespace)), name  # applied by the agent
    assert "strata" not in managers(apps.read_namespaced_deployment("prometheus", "monitoring"))
    connected = condition(op, cluster_id, "AgentConnected")
    assert connected and connected["status"] == "True", connected
    assert op.get(f"/v1/clusters/{cluster_id}").json()["management"]["lastAgentReport"]

    # the agent's service account is held to its RBAC: it may apply and prune, not watch nor delete collections
    token = core.create_namespaced_service_account_token(
        "strata-agent", "strata-system", k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(audiences=[]))
    )
    config = k8s.Configuration(host=api.configuration.host, api_key={"authorization": f"Bearer {token.status.token}"})
    config.ssl_ca_cert, config.tls_server_name = api.configuration.ssl_ca_cert, api.configuration.tls_server_name
    agent_core = k8s.CoreV1Api(k8s.ApiClient(config))
    assert agent_core.list_namespaced_config_map("kube-system").items  # what it needs: allowed
    for forbidden in (lambda: agent_core.delete_collection_namespaced_config_map("kube-system"),
                      lambda: agent_core.list_namespaced_pod("monitoring", watch=True, timeout_seconds=1)):  # fmt: skip
        with pytest.raises(ApiException) as refused:
            forbidden()
        assert refused.value.status == 403, refused.value.body

    started = time.monotonic()  # an override reaches the cluster through the agent
    applied = op.put(f"/v1/clusters/{cluster_id}/packs/prometheus/values", {"retention": "30d"})
    assert applied.status_code == 202, applied.text
    wait_until(lambda: any("30d" in a for a in prometheus_args(apps)), timeout=60, message="the override applied")
    print(f"\npull mode: override applied {time.monotonic() - started:.1f}s after it was made")
    wait_phase(op, cluster_id)
    assert AGENT_MANAGER in managers(apps.read_namespaced_deployment("prometheus", "monitoring"))

    apps.delete_namespaced_deployment("prometheus", "monitoring")  # drift: put back by the agent, reported
    wait_until(lambda: [e for e in events(op, cluster_id, "DriftCorrected") if e["source"] == "agent"],
               timeout=60, message="the agent's DriftCorrected event")  # fmt: skip
    assert any("30d" in a for a in prometheus_args(apps))


def test_the_agents_api_down_for_30s_keeps_the_cluster_then_the_override_lands(pull):
    op, cluster_id, processes = pull["op"], pull["id"], pull["processes"]
    apps = k8s.AppsV1Api(kube(op, cluster_id))
    before = prometheus_args(apps)
    pull["agent_api"].terminate()  # the agents' way in is down; users still reach theirs
    pull["agent_api"].wait(30)
    down = time.monotonic()
    pending = op.put(f"/v1/clusters/{cluster_id}/packs/prometheus/values", {"retention": "45d"})
    assert pending.status_code == 202, pending.text
    wait_until(lambda: (condition(op, cluster_id, "AgentConnected") or {}).get("status") == "False",
               timeout=AGENT_TIMEOUT + 20, message="AgentConnected False")  # fmt: skip
    silent = condition(op, cluster_id, "AgentConnected")
    assert silent["reason"] == "AgentSilent" and "no report from the agent since" in silent["message"]
    time.sleep(max(0.0, 30 - (time.monotonic() - down)))
    assert prometheus_args(apps) == before  # 30 s without its control plane: the cluster is as it was
    waiting = condition(op, cluster_id, "AddonsReady")  # the override's step waits for the agent
    assert waiting["status"] != "True" and waiting["observedGeneration"] == pending.json()["applying"]["generation"]
    assert "waiting for the agent to apply generation" in waiting["message"], waiting

    env = {**pull["env"], "STRATA_API_PORT": str(pull["agent_port"])}
    pull["agent_api"] = processes.start("agent-api", [*STRATA, "serve", "api"], env)
    wait_until(lambda: any("45d" in a for a in prometheus_args(apps)), timeout=90, message="the override applied")
    wait_until(lambda: (condition(op, cluster_id, "AgentConnected") or {}).get("status") == "True", timeout=60,
               message="AgentConnected True again")  # fmt: skip
    wait_phase(op, cluster_id)
    reasons = [e["reason"] for e in op.get(f"/v1/clusters/{cluster_id}/events", params={"limit": 1000}).json()["items"]]
    assert "AgentSilent" in reasons and reasons.index("AgentConnected", reasons.index("AgentSilent")) > 0


def test_back_to_push_mode_the_agent_is_removed_and_the_add_ons_service_applies(pull):
    op, cluster_id = pull["op"], pull["id"]
    api = kube(op, cluster_id)
    apps = k8s.AppsV1Api(api)
    changed = op.patch(f"/v1/clusters/{cluster_id}", {"management": {"mode": "push"}})
    assert changed.status_code == 202, changed.text
    assert changed.json()["management"]["mode"] == "push"
    wait_phase(op, cluster_id)
    with pytest.raises(ApiException) as gone:
        apps.read_namespaced_deployment("strata-agent", "strata-system")
    assert gone.value.status == 404
    assert [e for e in events(op, cluster_id, "AgentRemoved")]
    assert condition(op, cluster_id, "AgentConnected") is None
    assert "strata" in managers(apps.read_namespaced_deployment("prometheus", "monitoring"))  # pushed again
    assert op.get(f"/v1/clusters/{cluster_id}").json()["management"]["lastAgentReport"] is None
