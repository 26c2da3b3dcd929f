"""The agent API through HTTP: a cluster agent's token reads only its cluster's desired add-on state and
writes only its cluster's status; it rotates its token and an operator revokes them."""

from __future__ import annotations

import psycopg
from api_support import LOCAL_PROFILE, Client, cluster_request
from psycopg.rows import dict_row

from helpers import wait_until


def _cluster(op, name: str) -> str:
    account = op.post("/v1/cloudaccounts", {"name": f"lab-{name}", "cloud": "local"}).json()["id"]
    profile = op.post("/v1/profiles", {**LOCAL_PROFILE, "name": f"web-{name}"}).json()["id"]
    created = op.post("/v1/clusters", cluster_request(profile, account, name=name))
    assert created.status_code == 202, created.text
    return created.json()["id"]


def test_an_agent_token_reads_its_clusters_desired_state_and_reports_and_nothing_else(clients, api_base,
                                                                                       database_url):  # fmt: skip
    op = clients["operator"]
    mine, other = _cluster(op, "edge"), _cluster(op, "core")
    minted = op.post(f"/v1/clusters/{mine}/agent/token")
    assert minted.status_code == 201, minted.text
    agent = Client(api_base, minted.json()["token"])
    assert clients["viewer"].post(f"/v1/clusters/{mine}/agent/token").status_code == 403  # operators mint
    assert clients["other"].post(f"/v1/clusters/{mine}/agent/token").status_code == 404  # not its project's

    desired = agent.get(f"/v1/agent/clusters/{mine}/desired")
    assert desired.status_code == 200, desired.text
    body = desired.json()
    assert body["cluster"] == mine and body["generation"] == 1
    assert [p["pack"] for p in body["packs"]] == ["calico", "local-path", "prometheus"]  # the profile's order
    calico = body["packs"][0]["objects"]
    assert any(o["kind"] == "DaemonSet" and o["metadata"]["name"] == "calico-node" for o in calico)
    assert all(o["metadata"]["labels"]["strata.dev/pack"] == "calico" for o in calico)
    unchanged = agent.get(f"/v1/agent/clusters/{mine}/desired", headers={"If-None-Match": desired.headers["ETag"]})
    assert unchanged.status_code == 304 and not unchanged.content

    override = op.put(f"/v1/clusters/{mine}/packs/prometheus/values", {"retention": "30d"})
    assert override.status_code == 202, override.text
    changed = agent.get(f"/v1/agent/clusters/{mine}/desired", headers={"If-None-Match": desired.headers["ETag"]})
    assert changed.status_code == 200 and changed.headers["ETag"] != desired.headers["ETag"]

    report = {"generation": 1, "packs": [{"pack": "calico", "state": "applied"}],
              "nodes": [{"name": "cp-0", "ready": True}], "drift": ["ConfigMap kube-system/calico-config"]}  # fmt: skip
    assert agent.post(f"/v1/agent/clusters/{mine}/status", report).status_code == 204
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        kept = conn.execute("SELECT generation, report FROM agent_reports WHERE cluster_id = %s", (mine,)).fetchone()
    assert kept["generation"] == 1 and kept["report"]["nodes"] == [{"name": "cp-0", "ready": True}]
    events = op.get(f"/v1/clusters/{mine}/events", params={"limit": 1000}).json()["items"]
    drift = [e for e in events if e["reason"] == "DriftCorrected"]
    assert drift and drift[0]["data"]["objects"] == ["ConfigMap kube-system/calico-config"]
    bad = agent.post(f"/v1/agent/clusters/{mine}/status", {"generation": -1, "packs": [{"pack": "x", "state": "?"}]})
    assert bad.status_code == 422 and set(bad.json()["error"]["fields"]) == {"generation", "packs.0.state"}

    # its cluster only: another cluster is not found; nothing but the agent API answers it
    assert agent.get(f"/v1/agent/clusters/{other}/desired").status_code == 404
    assert agent.post(f"/v1/agent/clusters/{other}/status", report).status_code == 404
    for method, path in (("GET", f"/v1/clusters/{mine}"), ("GET", "/v1/clusters"), ("GET", "/v1/whoami"),
                         ("POST", f"/v1/clusters/{mine}/agent/token"), ("DELETE", f"/v1/clusters/{mine}")):  # fmt: skip
        assert agent.call(method, path).status_code == 403, path
    assert op.get(f"/v1/agent/clusters/{mine}/desired").status_code == 403  # a user's token is no agent's

    rotated = agent.post(f"/v1/agent/clusters/{mine}/token")
    assert rotated.status_code == 201
    renewed = Client(api_base, rotated.json()["token"])
    assert renewed.get(f"/v1/agent/clusters/{mine}/desired").status_code == 200
    assert agent.get(f"/v1/agent/clusters/{mine}/desired").status_code == 200  # the old one ends within 5 minutes

    assert op.delete(f"/v1/clusters/{mine}/agent/tokens").status_code == 204
    for revoked in (agent, renewed):  # at once in this API process, within 10 s in the others
        wait_until(lambda c=revoked: c.get(f"/v1/agent/clusters/{mine}/desired").status_code == 401, timeout=15,
                   interval=0.5, message="revoked agent tokens refused")  # fmt: skip
