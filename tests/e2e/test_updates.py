"""Profile updates through the API on a running fleet: new revisions become one update notification per
cluster with every change since the revision it runs, overrides conflict with the profile's changes of
the same paths until resolved, and apply moves the cluster with its overrides rebased; and the timeline
of where a generation's time went."""

from __future__ import annotations

import json
from datetime import datetime

import psycopg
import pytest
from api_support import LOCAL_PROFILE, cluster_request

from helpers import run_strata, wait_until

POOLS = [
    {"name": "cp", "role": "controlPlane", "count": 1, "instanceType": "medium", "zones": ["local-1a"]},
    {"name": "w", "role": "worker", "count": 2, "instanceType": "medium", "zones": ["local-1a", "local-1b"]},
]


def layers(**changes: dict) -> list[dict]:
    """LOCAL_PROFILE's layers with some replaced (by pack name; None removes it) and others added."""
    found = {layer["pack"]: layer for layer in LOCAL_PROFILE["layers"]}
    result = [changes.get(name, layer) for name, layer in found.items() if changes.get(name, layer) is not None]
    return result + [layer for name, layer in changes.items() if name not in found and layer is not None]


@pytest.fixture
def running(clients, fleet_env):
    """A profile and a Running cluster (1 + 2 nodes) on its first revision."""
    op = clients["operator"]
    account = op.post("/v1/cloudaccounts", {"name": "lab", "cloud": "local"}).json()["id"]
    profile = op.post("/v1/profiles", {"name": "web", "layers": layers()}).json()["id"]
    cluster = op.post("/v1/clusters", cluster_request(profile, account, name="shop", pools=POOLS)).json()["id"]
    wait_running(op, cluster)
    return profile, cluster


def wait_running(op, cluster: str, generation: int | None = None) -> dict:
    def reached():
        body = op.get(f"/v1/clusters/{cluster}").json()
        done = body["phase"] == "Running" and (generation is None or body["generation"] >= generation)
        ready = next(c for c in body["conditions"] if c["type"] == "Ready")
        return body if done and ready["status"] == "True" else None

    return wait_until(reached, timeout=180, interval=0.3, message="cluster Running")


def counts(database_url: str, cluster: str) -> tuple:
    """What a change leaves behind: the cluster's steps, machines, events and API objects, every cloud call."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM steps WHERE cluster_id = %(c)s), (SELECT count(*) FROM machines"
            " WHERE cluster_id = %(c)s), (SELECT count(*) FROM events WHERE cluster_id = %(c)s),"
            " (SELECT count(*) FROM kube_changes WHERE cluster_id = %(c)s), (SELECT sum(calls) FROM lc_throttle),"
            " (SELECT count(*) FROM clusters)",
            {"c": cluster},
        ).fetchone()


def keys(objects: list[dict]) -> list[str]:
    """The add-ons service's keys (as its events name objects) of a dry run's planned objects."""
    return sorted(f"{o['apiVersion']}|{o['kind']}|{o['namespace'] or ''}|{o['name']}" for o in objects)


def revise(op, profile: str, **changes: dict) -> None:
    response = op.put(f"/v1/profiles/{profile}", {"layers": layers(**changes)})
    assert response.status_code == 200, response.text


def test_two_revisions_make_one_notification_with_every_change_and_the_nodes_it_replaces(clients, running):
    op, viewer = clients["operator"], clients["viewer"]
    profile, cluster = running
    assert op.get(f"/v1/clusters/{cluster}/updates").json()["items"] == []
    revise(op, profile, calico={"pack": "calico", "version": "3.28.2", "values": "mtu: 1400\nencapsulation: IPIP\n"},
           vault={"pack": "vault", "version": "1.17.6"})  # fmt: skip
    revise(op, profile, kubernetes={"pack": "kubernetes", "version": "1.33.0"},
           calico={"pack": "calico", "version": "3.28.2", "values": "mtu: 1400\nencapsulation: IPIP\n"},
           vault={"pack": "vault", "version": "1.17.6"})  # fmt: skip

    first, second = viewer.get(f"/v1/clusters/{cluster}/updates").json()["items"][::-1]
    assert (first["status"], second["status"]) == ("superseded", "pending")
    assert second["profile"] == {"id": profile, "fromRevision": 1, "toRevision": 3}
    changes = {change["pack"]: change for change in second["changes"]}
    assert set(changes) == {"calico", "vault", "kubernetes"}
    assert changes["vault"]["change"] == "added" and changes["vault"]["toVersion"] == "1.17.6"
    assert changes["calico"]["values"] == [
        {"path": "encapsulation", "change": "changed", "old": "VXLAN", "new": "IPIP"}
    ]
    assert not changes["calico"]["replacesNodes"]
    kubernetes = changes["kubernetes"]
    assert (kubernetes["fromVersion"], kubernetes["toVersion"], kubernetes["replacesNodes"]) == (
        "1.32.1",
        "1.33.0",
        True,
    )
    assert second["replacesNodes"] == 3 and second["conflicts"] == []

    events = op.get(f"/v1/clusters/{cluster}/events").json()["items"]
    offered = [e["data"] for e in events if e["reason"] == "UpdateAvailable"]
    assert offered == [
        {"update": 1, "fromRevision": 1, "toRevision": 2},
        {"update": 2, "fromRevision": 1, "toRevision": 3},
    ]
    fleet = op.get("/v1/updates", params={"profile": profile}).json()["items"]
    assert [(item["cluster"]["id"], item["number"]) for item in fleet] == [(cluster, 2)]


def test_an_override_conflicts_until_resolved_then_apply_rebases_it(clients, running, strata_env, database_url):
    op, viewer = clients["operator"], clients["viewer"]
    profile, cluster = running
    stored = op.put(f"/v1/clusters/{cluster}/packs/calico/values", {"mtu": 9000})
    assert stored.status_code == 202, stored.text
    wait_running(op, cluster, stored.json()["applying"]["generation"])
    revise(op, profile, calico={"pack": "calico", "version": "3.28.2", "values": "mtu: 1300\nencapsulation: IPIP\n"})

    [update] = op.get(f"/v1/clusters/{cluster}/updates").json()["items"]
    assert update["conflicts"] == [
        {"pack": "calico", "path": "mtu", "override": 9000, "base": 1400, "profile": 1300, "resolution": None}
    ]
    assert update["unresolved"] == 1
    url = f"/v1/clusters/{cluster}/updates/{update['number']}"
    patched = op.patch(f"/v1/clusters/{cluster}", {"profile": {"id": profile, "revision": 2}})
    assert patched.status_code == 409 and "calico:mtu" in patched.json()["error"]["fields"], patched.text
    refused = op.post(f"{url}/apply")
    assert refused.status_code == 409 and "calico:mtu" in refused.json()["error"]["fields"], refused.text
    assert viewer.put(f"{url}/resolutions", {"resolutions": []}).status_code == 403
    wrong = op.put(
        f"{url}/resolutions", {"resolutions": [{"pack": "calico", "path": "ipam", "action": "take-profile"}]}
    )
    assert wrong.status_code == 422 and "resolutions.0" in wrong.json()["error"]["fields"]
    env = op.cli_env(strata_env)
    shown = run_strata(env, "cluster", "update", "show", cluster, str(update["number"]))
    assert shown.returncode == 0, shown.stderr
    assert "-   mtu: 1400\n+   mtu: 1300\n" in shown.stdout
    assert "calico:mtu: base 1400, profile 1300, override 9000 -> unresolved" in shown.stdout
    resolved = run_strata(env, "cluster", "update", "resolve", cluster, str(update["number"]), "--keep", "calico:mtu",
                      "-o", "json")  # fmt: skip
    assert resolved.returncode == 0 and json.loads(resolved.stdout)["unresolved"] == 0, resolved.stderr

    before = counts(database_url, cluster)
    printed = run_strata(env, "cluster", "update", "apply", cluster, str(update["number"]), "--dry-run")
    assert printed.returncode == 0, printed.stderr
    assert "critical path: " in printed.stdout and "  calico 3.28.2: 0 create, " in printed.stdout
    plan = op.post(f"{url}/apply", params={"dryRun": "true"})
    assert plan.status_code == 200 and plan.json()["dryRun"], plan.text
    assert counts(database_url, cluster) == before  # no step, machine, event, cloud call or Kubernetes write
    assert op.get(f"{url}").json()["status"] == "pending"
    applied = op.post(f"{url}/apply")
    assert applied.status_code == 202, applied.text
    generation = plan.json()["generation"]
    made = op.get(f"/v1/clusters/{cluster}/steps", params={"generation": generation}).json()["items"]
    assert [s["name"] for s in plan.json()["steps"]] == [s["name"] for s in made] != []
    assert applied.json()["status"] == "applied" and applied.json()["appliedGeneration"] == generation
    assert applied.json()["replacesNodes"] == 0  # kept as applied: the conflict and how it was resolved
    assert applied.json()["conflicts"] == [{**update["conflicts"][0], "resolution": {"action": "keep-override"}}]
    body = wait_running(op, cluster, op.get(f"/v1/clusters/{cluster}").json()["generation"])
    assert body["profile"]["revision"] == 2
    values = op.get(f"/v1/clusters/{cluster}/packs/calico/values").json()
    assert (values["values"]["mtu"], values["values"]["encapsulation"]) == (9000, "IPIP")
    assert values["origins"]["mtu"] == "override" and values["origins"]["encapsulation"] == "profile"
    assert op.post(f"{url}/apply").status_code == 409  # applied already

    # the override's base moved with the apply: a revision that leaves mtu alone conflicts with nothing
    revise(op, profile, calico={"pack": "calico", "version": "3.28.2", "values": "mtu: 1300\nencapsulation: IPIP\n"},
           prometheus={"pack": "prometheus", "version": "2.54.1", "values": "retention: 30d\n"})  # fmt: skip
    latest = op.get(f"/v1/clusters/{cluster}/updates").json()["items"][0]
    assert latest["status"] == "pending" and latest["profile"]["fromRevision"] == 2
    assert latest["conflicts"] == []
    assert [change["pack"] for change in latest["changes"]] == ["prometheus"]


def test_a_created_clusters_timeline_accounts_for_its_time(clients, running, strata_env):
    op = clients["operator"]
    _, cluster = running
    view = op.get(f"/v1/clusters/{cluster}").json()
    timeline = op.get(f"/v1/clusters/{cluster}/timeline").json()
    created = datetime.fromisoformat(view["createdAt"])
    running_at = datetime.fromisoformat(timeline["finishedAt"])
    assert abs(timeline["seconds"] - (running_at - created).total_seconds()) < 1.0
    assert timeline["criticalPath"]["steps"][-1] == "finalize_create"
    assert {"InfrastructureReady", "ControlPlaneReady", "WorkersReady", "Ready"} <= {
        m["milestone"] for m in timeline["milestones"]
    }
    for step in timeline["steps"]:  # due to finished is queued + working + waiting, give or take the commits
        split = step["queuedSeconds"] + step["workingSeconds"] + step["waitingSeconds"]
        assert abs(step["seconds"] - split) < 1.0, step
    nodes = [s for s in timeline["steps"] if s["name"].startswith("ensure_node/")]
    assert all(s["waitingSeconds"] > 0 or s["workingSeconds"] > 0 for s in nodes)

    env = op.cli_env(strata_env)
    chart = run_strata(env, "cluster", "timeline", cluster)
    assert chart.returncode == 0, chart.stderr
    assert "* finalize_create" in chart.stdout and "critical path: " in chart.stdout
    assert op.get(f"/v1/clusters/{cluster}/timeline", params={"generation": 99}).status_code == 404


def test_a_dry_run_of_a_create_or_a_change_writes_nothing_and_shows_the_real_plan(clients, running, database_url):
    op = clients["operator"]
    profile, cluster = running
    account = op.get("/v1/cloudaccounts").json()["items"][0]["id"]
    before = counts(database_url, cluster)
    body = cluster_request(profile, account, name="planned", pools=POOLS)
    planned = op.post("/v1/clusters", body, params={"dryRun": "true"})
    assert planned.status_code == 200, planned.text
    assert [m["machine"] for m in planned.json()["adds"]] == ["cp-0", "w-0", "w-1"]
    scaled = op.patch(f"/v1/clusters/{cluster}", {"pools": [POOLS[0], {**POOLS[1], "count": 1}]},
                      params={"dryRun": "true"})  # fmt: skip
    assert scaled.status_code == 200, scaled.text
    assert [(m["pool"], m["reason"]) for m in scaled.json()["retires"]] == [("w", "scale-down")]
    assert counts(database_url, cluster) == before
    assert op.post("/v1/clusters", body, params={"dryRun": "maybe"}).status_code == 400
    new = planned.json()
    assert new["expected"]["criticalPath"][-1] == "finalize_create" and new["expected"]["seconds"] > 0
    assert {s["name"]: s["cloudWaits"] for s in new["steps"]}["ensure_node/w-1"] == ["instance"]
    assert new["kubernetes"]["checked"] and all(p["create"] and p["objects"] == len(p["create"])
                                                for p in new["kubernetes"]["packs"])  # fmt: skip
    created = op.post("/v1/clusters", body)
    assert created.status_code == 202
    made = op.get(f"/v1/clusters/{created.json()['id']}/steps").json()["items"]
    assert [s["name"] for s in new["steps"]] == [s["name"] for s in made]


def test_a_dry_run_shows_what_each_pack_would_create_change_and_prune_as_the_apply_then_does(
    clients, running, database_url
):
    op = clients["operator"]
    profile, cluster = running
    revise(op, profile, calico={"pack": "calico", "version": "3.28.2", "values": "mtu: 1300\n"},
           **{"permissions-manager": {"pack": "permissions-manager", "version": "1.0.0"}}, prometheus=None)  # fmt: skip
    before = counts(database_url, cluster)
    change = {"profile": {"id": profile, "revision": 2}}
    planned = op.patch(f"/v1/clusters/{cluster}", change, params={"dryRun": "true"})
    assert planned.status_code == 200, planned.text
    assert counts(database_url, cluster) == before  # the API server's dry run wrote nothing either
    objects = planned.json()["kubernetes"]
    assert objects["checked"] and objects["problems"] == [], objects
    packs = {p["pack"]: p for p in objects["packs"]}
    assert set(packs) == {"calico", "local-path", "permissions-manager", "prometheus"}
    calico = {(o["kind"], o["name"]): o["fields"] for o in packs["calico"]["change"]}
    assert {"path": "data.veth_mtu", "change": "changed", "old": "1400", "new": "1300"} in calico[
        ("ConfigMap", "calico-config")
    ]
    assert set(calico) == {("ConfigMap", "calico-config"), ("DaemonSet", "calico-node")}  # the mtu's two uses
    assert packs["calico"]["create"] == packs["calico"]["prune"] == []
    assert packs["local-path"]["unchanged"] == packs["local-path"]["objects"] > 0
    added = packs["permissions-manager"]
    assert added["change"] == [] and len(added["create"]) == added["objects"] > 0
    assert packs["prometheus"]["objects"] == 0 and packs["prometheus"]["prune"]

    patched = op.patch(f"/v1/clusters/{cluster}", change)
    assert patched.status_code == 202, patched.text
    wait_running(op, cluster, planned.json()["generation"])
    events = op.get(f"/v1/clusters/{cluster}/events", params={"limit": 500}).json()["items"]
    applied = {e["data"]["pack"]: e["data"] for e in events if e["reason"] == "PackApplied"}
    removed = {e["data"]["pack"]: e["data"]["deleted"] for e in events if e["reason"] == "PackRemoved"}
    assert sorted(applied["permissions-manager"]["changed"]) == keys(added["create"])
    assert sorted(applied["calico"]["changed"]) == keys(packs["calico"]["change"])  # a ConfigMap has no generation
    assert sorted(removed["prometheus"]) == keys(packs["prometheus"]["prune"])
    live = op.get(f"/v1/clusters/{cluster}/packs/calico/values").json()["values"]
    assert live["mtu"] == 1300
