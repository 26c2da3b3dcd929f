"""Tokens and projects through the API, and the audit log of every write and kubeconfig download."""

from __future__ import annotations

import json

import psycopg
import pytest
from api_support import LOCAL_PROFILE, Client, cluster_request
from psycopg.rows import dict_row

from helpers import wait_until
from strata_common.db.tokens import create_token


def test_admins_issue_list_and_revoke_tokens_and_expired_ones_stop_working(clients, api_base, database_url):
    admin, op = clients["admin"], clients["operator"]
    made = admin.post("/v1/tokens", {"name": "ci", "role": "operator", "expiresInSeconds": 3600})
    assert made.status_code == 201, made.text
    ci = Client(api_base, made.json()["token"])
    assert ci.get("/v1/whoami").json()["role"] == "operator"
    listed = {t["name"]: t for t in admin.get("/v1/tokens").json()["items"]}
    assert listed["ci"]["expiresAt"] and "token" not in listed["ci"] and listed["ci"]["revokedAt"] is None
    assert op.post("/v1/tokens", {"name": "x", "role": "viewer"}).status_code == 403  # only admins issue tokens
    assert op.get("/v1/tokens").status_code == 403
    bad = admin.post("/v1/tokens", {"name": "x", "role": "root", "expiresInSeconds": 5})
    assert bad.status_code == 422 and set(bad.json()["error"]["fields"]) == {"role", "expiresInSeconds"}
    assert clients["other"].delete(f"/v1/tokens/{made.json()['id']}").status_code == 404  # not its project's

    revoked = admin.delete(f"/v1/tokens/{made.json()['id']}")
    assert revoked.status_code == 200 and revoked.json()["revokedAt"], revoked.text
    wait_until(lambda: ci.get("/v1/whoami").status_code == 401, timeout=15, interval=0.5,
               message="the revoked token refused (10 s cache in other API processes)")  # fmt: skip
    assert admin.delete(f"/v1/tokens/{made.json()['id']}").json()["revokedAt"] == revoked.json()["revokedAt"]

    soon = admin.post("/v1/tokens", {"name": "short", "role": "viewer", "expiresInSeconds": 60}).json()
    with psycopg.connect(database_url) as conn:  # as if its minute had passed
        conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = %s", (soon["id"],))
    assert Client(api_base, soon["token"]).get("/v1/whoami").status_code == 401


def test_a_platform_admin_creates_projects_with_their_first_admin(clients, api_base, database_url, projects):
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        platform = Client(api_base, create_token(conn, projects[0], "admin", "platform", platform_admin=True))
    name = f"gamma-{projects[0][-8:]}"
    assert clients["admin"].post("/v1/projects", {"name": name}).status_code == 403
    created = platform.post("/v1/projects", {"name": name})
    assert created.status_code == 201, created.text
    first = Client(api_base, created.json()["adminToken"]["token"])
    assert first.get("/v1/whoami").json() == {"project": name, "projectId": created.json()["id"], "role": "admin"}
    assert platform.post("/v1/projects", {"name": name}).status_code == 409
    assert platform.post("/v1/projects", {"name": "Not A Label"}).status_code == 422
    assert {p["name"] for p in platform.get("/v1/projects").json()["items"]} >= {name, projects[0], projects[1]}
    assert [p["name"] for p in first.get("/v1/projects").json()["items"]] == [name]


def test_every_write_and_kubeconfig_download_is_audited_without_secrets(clients, database_url):
    admin, op, viewer = clients["admin"], clients["operator"], clients["viewer"]
    account = op.post("/v1/cloudaccounts", {"name": "lab", "cloud": "local"}).json()["id"]
    profile = op.post("/v1/profiles", LOCAL_PROFILE).json()["id"]
    cluster = op.post("/v1/clusters", cluster_request(profile, account)).json()["id"]
    op.get(f"/v1/clusters/{cluster}/kubeconfig")
    assert op.delete(f"/v1/clusters/{cluster}").status_code == 202
    assert viewer.post("/v1/profiles", LOCAL_PROFILE).status_code == 403
    issued = admin.post("/v1/tokens", {"name": "robot", "role": "viewer"}).json()

    page = admin.get("/v1/audit", params={"resource": "clusters"})
    assert page.status_code == 200, page.text
    seen = [(e["method"], e["path"].split("/")[-1], e["resourceId"], e["status"]) for e in page.json()["items"]]
    assert seen[0] == ("POST", "clusters", cluster, 202) and seen[-1] == ("DELETE", cluster, cluster, 202)
    assert seen[1][:3] == ("GET", "kubeconfig", cluster)
    everything = admin.get("/v1/audit").json()["items"]
    assert {(e["resource"], e["method"], e["status"], e["role"]) for e in everything} >= {
        ("cloudaccounts", "POST", 201, "operator"), ("profiles", "POST", 403, "viewer"),
        ("tokens", "POST", 201, "admin")}  # fmt: skip
    assert next(e for e in everything if e["resource"] == "tokens")["resourceId"] == issued["id"]
    assert {e["tokenName"] for e in everything} == {""}  # the tests' tokens have no name
    later = admin.get("/v1/audit", params={"after": everything[-1]["id"]}).json()
    assert later["items"] == [] and later["nextAfter"] == everything[-1]["id"]
    assert viewer.get("/v1/audit").status_code == 403
    assert clients["other"].get("/v1/audit").json()["items"] == []  # another project's log is its own
    assert admin.get("/v1/audit", params={"since": "yesterday"}).status_code == 400

    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        rows = conn.execute("SELECT * FROM audit_log").fetchall()
        assert issued["token"] not in json.dumps(rows, default=str)  # a token's secret is never recorded
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("UPDATE audit_log SET status = 200")
