"""A created cluster's CIS Kubernetes Benchmark scan (the Scanned milestone, the scans API and CLI); and a
delete the cloud will not let finish (every call refused, as with revoked credentials) that goes on
forever until a force delete ends it: one sweep, the cluster gone, what is left listed."""

from __future__ import annotations

import psycopg
from api_support import LOCAL_PROFILE, cluster_request
from psycopg.rows import dict_row

from helpers import run_strata, wait_until

POOLS = [
    {"name": "cp", "role": "controlPlane", "count": 1, "instanceType": "medium", "zones": ["local-1a"]},
    {"name": "w", "role": "worker", "count": 1, "instanceType": "medium", "zones": ["local-1b"]},
]


def create_running(op, name: str, pools: list[dict]) -> str:
    account = op.post("/v1/cloudaccounts", {"name": name, "cloud": "local"}).json()["id"]
    profile = op.post("/v1/profiles", {**LOCAL_PROFILE, "name": name, "layers": LOCAL_PROFILE["layers"][:3]}).json()
    cluster = op.post("/v1/clusters", cluster_request(profile["id"], account, name=name, pools=pools)).json()["id"]
    wait_until(lambda: op.get(f"/v1/clusters/{cluster}").json()["phase"] == "Running", timeout=180, interval=0.3,
               message="cluster Running")  # fmt: skip
    return cluster


def test_a_created_cluster_is_scanned_against_the_cis_benchmark(clients, fleet_env, strata_env, database_url):
    op, viewer = clients["operator"], clients["viewer"]
    cluster = create_running(op, "scanned", POOLS)
    scanned = next(c for c in op.get(f"/v1/clusters/{cluster}").json()["conditions"] if c["type"] == "Scanned")
    [first] = op.get(f"/v1/clusters/{cluster}/scans").json()["items"]
    assert (scanned["status"], scanned["title"]) == ("True", "Scanning (CIS benchmark)")
    assert scanned["message"] == first["summary"] and first["summary"].startswith("CIS 1.9: ")
    assert (first["number"], first["trigger"], first["benchmark"]) == (1, "create", "cis-1.9")
    assert first["totals"]["pass"] > 60 and first["totals"]["info"] == 0

    report = op.get(f"/v1/clusters/{cluster}/scans/1").json()
    status = {r["id"]: r["status"] for r in report["results"]}
    assert len(status) == sum(first["totals"].values())
    passing = ["1.1.1", "1.2.1", "1.2.15", "1.2.16", "1.2.27", "1.3.2", "1.4.1", "2.2", "3.2.1", "4.1.9", "4.2.1",
               "4.2.4", "4.2.13"]  # fmt: skip
    assert {check: status[check] for check in passing} == dict.fromkeys(passing, "PASS")
    failed = op.get(f"/v1/clusters/{cluster}/scans/1", params={"status": "FAIL"}).json()["results"]
    # the one scored check kubeadm cannot pass: kubelets serve with self-signed certificates
    assert [(r["id"], r["status"]) for r in failed] == [("1.2.5", "FAIL")] and "serverTLSBootstrap" in failed[0][
        "remediation"
    ]
    assert op.get(f"/v1/clusters/{cluster}/scans/1", params={"status": "BAD"}).status_code == 400
    assert op.get(f"/v1/clusters/{cluster}/scans/9").status_code == 404

    assert viewer.post(f"/v1/clusters/{cluster}/scans").status_code == 403
    again = op.post(f"/v1/clusters/{cluster}/scans")
    assert again.status_code == 202 and (again.json()["number"], again.json()["trigger"]) == (2, "demand")
    table = run_strata(op.cli_env(strata_env), "cluster", "scan", cluster, "--failed")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["CHECK", "STATUS", "SCORED", "NODE", "TEXT"]
    assert "scan 2 (demand, " in table.stdout and again.json()["summary"] in table.stdout

    with psycopg.connect(database_url) as conn:  # a day later, at its next health check: scanned again
        conn.execute("UPDATE cluster_scans SET scanned_at = scanned_at - interval '1 day' WHERE cluster_id = %s",
                     (cluster,))  # fmt: skip
        conn.execute("UPDATE clusters SET health_due_at = now() WHERE id = %s", (cluster,))

    def rescanned():
        latest = op.get(f"/v1/clusters/{cluster}/scans").json()["items"][0]
        return latest if latest["trigger"] == "schedule" else None

    assert wait_until(rescanned, timeout=30, interval=0.3, message="a scheduled scan")["number"] == 3


def test_a_stuck_delete_forced_ends_with_every_leftover_listed(clients, fleet_env, database_url):
    op, admin = clients["operator"], clients["admin"]
    cluster = create_running(op, "doomed", POOLS)
    forced = op.delete(f"/v1/clusters/{cluster}", params={"force": "true"})
    assert forced.status_code == 409 and "delete it first" in forced.json()["error"]["message"]

    for action in ("DeleteResource", "ListOwned", "DescribeInstances"):  # every call, as with revoked credentials
        fault = {"action": action, "code": "AuthFailure", "count": 10000,
                 "message": "AWS was not able to validate the provided access credentials"}  # fmt: skip
        assert admin.post("/v1/localcloud/faults", fault).status_code == 201
    try:
        assert op.delete(f"/v1/clusters/{cluster}").status_code == 202

        def stuck():
            steps = op.get(f"/v1/clusters/{cluster}/steps").json()["items"]
            return any(s["status"] == "failed" and s["errorReason"] == "AuthFailure" for s in steps)

        wait_until(stuck, timeout=60, interval=0.3, message="the delete failing on AuthFailure")
        with psycopg.connect(database_url, row_factory=dict_row) as conn:
            tagged = {r["id"]: r["kind"] for r in conn.execute(
                "SELECT id, kind FROM lc_resources WHERE deleted_at IS NULL AND tags->>'strata:cluster' = %s",
                (cluster,)).fetchall()}  # fmt: skip
        assert {"instance", "load_balancer", "security_group", "network"} <= set(tagged.values())

        assert op.delete(f"/v1/clusters/{cluster}", params={"force": "maybe"}).status_code == 400
        assert op.delete(f"/v1/clusters/{cluster}", params={"force": "true"}).status_code == 202
        wait_until(lambda: op.get(f"/v1/clusters/{cluster}").status_code == 404, timeout=60, interval=0.3,
                   message="the force-deleted cluster gone")  # fmt: skip
    finally:
        admin.delete("/v1/localcloud/faults")

    left = op.get("/v1/leftovers", params={"cluster": cluster}).json()["items"]
    # the cloud would not even list them: Strata's own record of what it made is every resource still tagged
    assert {item["id"]: item["kind"] for item in left} == tagged
    assert {(i["cluster"]["name"], i["cloud"], i["region"]) for i in left} == {("doomed", "local", "local-1")}
    assert all(i["reason"].startswith("not listed: AuthFailure: AWS was not able") for i in left)
    assert clients["other"].get("/v1/leftovers").json()["items"] == []
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        reasons = [r["reason"] for r in conn.execute(
            "SELECT reason FROM events WHERE cluster_id = %s ORDER BY seq", (cluster,)).fetchall()]  # fmt: skip
    told = [r for r in reasons if r in ("ForceDelete", "LeftoversRecorded", "ClusterDeleted")]
    assert told == ["ForceDelete", "LeftoversRecorded", "ClusterDeleted"]
