"""Cloud accounts, profiles and clusters through the HTTP API: life cycle, validation, tenancy, idempotency."""

from __future__ import annotations

import copy

import psycopg
import pytest
from api_support import LOCAL_PROFILE, cluster_request
from azure_support import azure_account
from engine_support import start_worker

from helpers import wait_until
from strata_api.schemas import ClusterList, ClusterView


@pytest.fixture
def world(clients):
    """A local account and a profile in project alpha."""
    op = clients["operator"]
    account = op.post("/v1/cloudaccounts", {"name": "lab", "cloud": "local"})
    assert account.status_code == 201, account.text
    profile = op.post("/v1/profiles", LOCAL_PROFILE)
    assert profile.status_code == 201, profile.text
    return {"account": account.json(), "profile": profile.json()}


def test_cluster_life_cycle(clients, world, processes, strata_env, database_url):
    op = clients["operator"]
    body = cluster_request(world["profile"]["id"], world["account"]["id"])
    created = op.post("/v1/clusters", body)
    assert created.status_code == 202, created.text
    cluster = created.json()
    assert (cluster["phase"], cluster["generation"]) == ("Provisioning", 1)
    assert cluster["profile"] == {"id": world["profile"]["id"], "revision": 1}
    assert [(c["type"], c["status"], c["reason"]) for c in cluster["conditions"]] == [
        ("ImageReady", "Unknown", "Pending"),
        ("InfrastructureReady", "Unknown", "Pending"),
        ("ControlPlaneReady", "Unknown", "Pending"),
        ("WorkersReady", "Unknown", "Pending"),
        ("NetworkingReady", "Unknown", "Pending"),
        ("StorageReady", "Unknown", "Pending"),
        ("AddonsReady", "Unknown", "Pending"),
        ("Scanned", "Unknown", "Pending"),
        ("Ready", "Unknown", "Reconciling"),
    ]

    got = op.get(f"/v1/clusters/{cluster['id']}")
    assert got.status_code == 200 and got.json()["name"] == "demo"
    listed = op.get("/v1/clusters", params={"phase": "Provisioning"}).json()
    assert [c["id"] for c in listed["items"]] == [cluster["id"]]
    # cluster answers skip marshmallow's dump (reply(..., ready=True)): they must be what their schemas say
    assert got.json() == listed["items"][0] == cluster
    assert ClusterView().validate(cluster) == {} and ClusterList().validate(listed) == {}
    assert op.get("/v1/clusters", params={"name": "nope"}).json()["items"] == []
    assert op.post("/v1/clusters", body).status_code == 409

    start_worker(processes, strata_env)  # the provisioner runs the delete plan
    deleting = op.delete(f"/v1/clusters/{cluster['id']}")
    assert deleting.status_code == 202 and deleting.json()["phase"] == "Deleting"
    wait_until(lambda: op.get(f"/v1/clusters/{cluster['id']}").status_code == 404, message="the cluster to go")
    assert op.post("/v1/clusters", body).status_code == 202  # the name is free again


def test_cluster_list_pages_with_a_cursor(clients, world):
    op = clients["operator"]
    for i in range(5):
        body = cluster_request(world["profile"]["id"], world["account"]["id"], name=f"c{i}")
        assert op.post("/v1/clusters", body).status_code == 202
    first = op.get("/v1/clusters", params={"limit": 2}).json()
    second = op.get("/v1/clusters", params={"limit": 2, "cursor": first["nextCursor"]}).json()
    third = op.get("/v1/clusters", params={"limit": 2, "cursor": second["nextCursor"]}).json()
    names = [c["name"] for page in (first, second, third) for c in page["items"]]
    assert names == ["c0", "c1", "c2", "c3", "c4"] and third["nextCursor"] is None
    assert op.get("/v1/clusters", params={"cursor": "garbage"}).status_code == 400


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        (lambda b: b["pools"][0].update(count=2), 422, "pools.0.count"),
        (lambda b: b["pools"].pop(0), 422, "pools"),
        (lambda b: b["pools"][1].update(role="controlPlane"), 422, "pools"),
        (lambda b: b["pools"][1].update(count=-1), 422, "pools.1.count"),
        (lambda b: b["pools"][1].update(zones=["local-2a"]), 422, "pools.1.zones.0"),
        (lambda b: b["pools"][1].update(zones=[]), 422, "pools.1.zones"),
        (lambda b: b["pools"][1].update(instanceType="m5.large"), 422, "pools.1.instanceType"),
        (lambda b: b["pools"][1].update(instanceType="small"), 422, "pools.1.instanceType"),
        (lambda b: b["pools"][1].update(name="cp"), 422, "pools.1.name"),
        (lambda b: b.update(name="Not_A_DNS_Label"), 422, "name"),
        (lambda b: b["cloud"].update(region="mars-1"), 422, "cloud.region"),
        (lambda b: b.update(extra=1), 422, "extra"),
        (lambda b: b["profile"].update(revision=7), 422, "profile.revision"),
        (lambda b: b.update(cloudAccount="6f1c1f4a-0000-4000-8000-000000000000"), 422, "cloudAccount"),
    ],
)
def test_invalid_cluster_requests_name_the_field(clients, world, database_url, projects, change, status, field):
    body = cluster_request(world["profile"]["id"], world["account"]["id"])
    change(body)
    response = clients["operator"].post("/v1/clusters", body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert field in error["fields"], error
    with psycopg.connect(database_url) as conn:  # nothing half-written in the test's project
        mine = "SELECT c.id FROM clusters c JOIN projects p ON p.id = c.project_id WHERE p.name = %s"
        assert conn.execute(f"SELECT count(*) FROM ({mine}) c", (projects[0],)).fetchone()[0] == 0
        assert (
            conn.execute(f"SELECT count(*) FROM steps WHERE cluster_id IN ({mine})", (projects[0],)).fetchone()[0] == 0
        )


def test_node_size_below_a_packs_minimum_names_both(clients, world):
    op = clients["operator"]
    profile = copy.deepcopy(LOCAL_PROFILE)
    profile["name"] = "secrets"
    profile["layers"].append({"pack": "vault", "version": "1.17.6"})
    created = op.post("/v1/profiles", profile).json()
    body = cluster_request(created["id"], world["account"]["id"])
    response = op.post("/v1/clusters", body)  # workers are "large" (8 GiB) but control plane "medium" (4 GiB)
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert fields == {
        "pools.0.instanceType": "pack vault@1.17.6 needs at least 8192 MiB of memory per node; pool cp has 4096"
    }


def test_idempotency_key_replays_and_rejects_another_body(clients, world):
    op = clients["operator"]
    body = cluster_request(world["profile"]["id"], world["account"]["id"])
    headers = {"Idempotency-Key": "create-demo-1"}
    first = op.post("/v1/clusters", body, headers=headers)
    again = op.post("/v1/clusters", body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    other = op.post("/v1/clusters", {**body, "name": "other"}, headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    assert len(op.get("/v1/clusters").json()["items"]) == 1


def test_tenancy_and_roles(clients, world):
    op, viewer, other = clients["operator"], clients["viewer"], clients["other"]
    cluster = op.post("/v1/clusters", cluster_request(world["profile"]["id"], world["account"]["id"])).json()
    for path in (f"/v1/clusters/{cluster['id']}", f"/v1/profiles/{world['profile']['id']}",
                 f"/v1/cloudaccounts/{world['account']['id']}", f"/v1/clusters/{cluster['id']}/events"):  # fmt: skip
        assert viewer.get(path).status_code == 200
        hidden = other.get(path)
        assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"
    assert other.get("/v1/clusters").json()["items"] == []
    assert other.delete(f"/v1/clusters/{cluster['id']}").status_code == 404
    forbidden = viewer.post("/v1/profiles", {**LOCAL_PROFILE, "name": "nope"})
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"
    assert viewer.delete(f"/v1/clusters/{cluster['id']}").status_code == 403
    assert clients["operator"].post("/v1/registries", {"name": "r", "source": "/tmp"}).status_code == 403
    anonymous = clients["anonymous"].get("/v1/clusters")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthenticated"
    bad = clients["anonymous"].get("/v1/clusters", headers={"Authorization": "Bearer strata_nope"})
    assert bad.status_code == 401


def test_malformed_json_is_a_400(clients):
    response = clients["operator"].call(
        "POST", "/v1/clusters", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a", "cloud": "aws", "credentials": {"accessKeyId": "AKIA1"}}, "credentials.secretAccessKey"),
        ({"name": "a", "cloud": "aws", "credentials": {"password": "x"}}, "credentials.password"),
        ({"name": "a", "cloud": "azure", "config": {"tenantId": "t"},
          "credentials": {"clientId": "c", "clientSecret": "s"}}, "config.subscriptionId"),
        ({"name": "a", "cloud": "vsphere", "config": {"host": "vc", "datacenter": "dc"},
          "credentials": {"username": "u", "password": "p"}}, "config.thumbprint"),
        ({"name": "a", "cloud": "gcp"}, "cloud"),
        ({"cloud": "local"}, "name"),
    ],
)  # fmt: skip
def test_invalid_cloud_accounts(clients, body, field):
    response = clients["operator"].post("/v1/cloudaccounts", body)
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["fields"]


@pytest.mark.own_stack  # reads its own API's log
def test_credentials_are_sealed_and_never_shown(clients, database_url, tmp_path, arm):
    op = clients["operator"]
    body = {"name": "prod", **azure_account(arm)}  # checked with the Azure stand-in's identity platform
    secret = body["credentials"]["clientSecret"]
    created = op.post("/v1/cloudaccounts", body)
    assert created.status_code == 201, created.text
    account = created.json()
    assert account["hasCredentials"] is True and "credentials" not in account
    for response in (created, op.get(f"/v1/cloudaccounts/{account['id']}"), op.get("/v1/cloudaccounts")):
        assert secret not in response.text
    with psycopg.connect(database_url) as conn:
        sealed = bytes(conn.execute("SELECT credentials FROM cloud_accounts").fetchone()[0])
        events = conn.execute("SELECT coalesce(string_agg(message || data::text, ' '), '') FROM events").fetchone()[0]
    assert secret.encode() not in sealed and arm.client.encode() not in sealed
    assert secret not in events
    assert secret not in (tmp_path / "api.log").read_text()  # nor in the API's logs
    assert op.delete(f"/v1/cloudaccounts/{account['id']}").status_code == 204
    assert op.get(f"/v1/cloudaccounts/{account['id']}").status_code == 404
