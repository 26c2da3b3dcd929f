"""Local cloud administration over HTTP and `strata localcloud`: faults, throttling and quotas, admins only."""

import json

import pytest

from helpers import run_strata

pytestmark = pytest.mark.own_stack  # each test changes the local cloud and reads it back whole


def test_faults_and_quotas(clients):
    admin, operator = clients["admin"], clients["operator"]
    fault = {"action": "RunInstances", "code": "RequestLimitExceeded", "message": "slow down", "count": 2}
    assert operator.post("/v1/localcloud/faults", fault).status_code == 403
    created = admin.post("/v1/localcloud/faults", fault)
    assert created.status_code == 201 and created.json()["remaining"] == 2
    assert [f["code"] for f in admin.get("/v1/localcloud/faults").json()["items"]] == ["RequestLimitExceeded"]
    bad = admin.post("/v1/localcloud/faults", {**fault, "action": "Explode"})
    assert bad.status_code == 422 and "action" in bad.json()["error"]["fields"]

    assert operator.put("/v1/localcloud/regions/local-1/quota", {"vcpus": 8}).status_code == 403
    quota = admin.put("/v1/localcloud/regions/local-1/quota", {"vcpus": 8})
    assert quota.status_code == 200 and quota.json() == {"name": "local-1", "vcpuQuota": 8, "vcpusUsed": 0}
    assert admin.put("/v1/localcloud/regions/mars/quota", {"vcpus": 8}).status_code == 404
    regions = {r["name"]: r["vcpuQuota"] for r in clients["viewer"].get("/v1/localcloud/regions").json()["items"]}
    assert regions == {"local-1": 8, "local-2": 64}

    limit = {"rate": 5, "burst": 10}
    assert operator.put("/v1/localcloud/throttling/RunInstances", limit).status_code == 403
    assert admin.put("/v1/localcloud/throttling/RunInstances", limit).json() == {"action": "RunInstances", **limit}
    assert admin.put("/v1/localcloud/throttling/Explode", limit).status_code == 404
    bad = admin.put("/v1/localcloud/throttling/RunInstances", {"rate": -1, "burst": 0})
    assert bad.status_code == 422 and set(bad.json()["error"]["fields"]) == {"rate", "burst"}
    buckets = {r["action"]: r for r in clients["viewer"].get("/v1/localcloud/throttling").json()["items"]}
    assert buckets["RunInstances"]["rate"] == 5 and buckets["DescribeImages"]["rate"] == 100


def test_faults_and_throttling_can_be_taken_back_and_are_bounded(clients):
    admin, operator = clients["admin"], clients["operator"]
    fault = {"action": "CopyImage", "code": "InternalError", "count": 10_000, "message": "m" * 500}
    first, second = (admin.post("/v1/localcloud/faults", fault).json()["id"] for _ in range(2))
    too_much = admin.post("/v1/localcloud/faults", {**fault, "count": 10_001, "message": "m" * 501})
    assert too_much.status_code == 422 and set(too_much.json()["error"]["fields"]) == {"count", "message"}
    assert operator.delete(f"/v1/localcloud/faults/{first}").status_code == 403
    assert admin.delete(f"/v1/localcloud/faults/{first}").status_code == 204
    assert admin.delete(f"/v1/localcloud/faults/{first}").status_code == 404
    assert [f["id"] for f in admin.get("/v1/localcloud/faults").json()["items"]] == [second]
    admin.post("/v1/localcloud/faults", {**fault, "count": 1})
    assert admin.delete("/v1/localcloud/faults").json() == {"removed": 2}
    assert admin.get("/v1/localcloud/faults").json()["items"] == []

    too_fast = admin.put("/v1/localcloud/throttling/CopyImage", {"rate": 347_694, "burst": 1e9})
    assert too_fast.status_code == 422 and set(too_fast.json()["error"]["fields"]) == {"rate", "burst"}
    admin.put("/v1/localcloud/throttling/CopyImage", {"rate": 10_000, "burst": 100_000})
    assert operator.delete("/v1/localcloud/throttling/CopyImage").status_code == 403
    back = admin.delete("/v1/localcloud/throttling/CopyImage")
    assert back.status_code == 200 and back.json() == {"action": "CopyImage", "rate": 100, "burst": 200}
    assert admin.delete("/v1/localcloud/throttling/Explode").status_code == 404
    document = admin.get("/openapi.json").json()["components"]["schemas"]
    assert document["FaultCreate"]["properties"]["count"]["maximum"] == 10_000
    assert document["FaultCreate"]["properties"]["message"]["maxLength"] == 500
    assert document["ThrottlingUpdate"]["properties"]["rate"]["maximum"] == 10_000


def test_strata_localcloud_verbs(clients, strata_env):
    admin = clients["admin"]
    env = admin.cli_env(strata_env)

    def strata(*args: str) -> str:
        result = run_strata(env, "localcloud", *args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    strata("fault", "CreateNetwork", "RequestLimitExceeded", "--count", "3")
    assert strata("faults").splitlines()[1].split()[1:] == ["CreateNetwork", "RequestLimitExceeded", "3"]
    strata("quota", "local-2", "16")
    assert strata("regions").splitlines()[2].split() == ["local-2", "16", "0"]
    strata("throttle", "CreateImage", "3")
    assert "CreateImage 3.0 6.0" in " ".join(strata("throttling").split())
    strata("unthrottle", "CreateImage")
    assert "CreateImage 100.0 200.0" in " ".join(strata("throttling").split())
    fault_id = json.loads(strata("faults", "-o", "json"))["items"][0]["id"]
    assert strata("fault", "rm", str(fault_id)).strip() == f"fault {fault_id} removed"
    assert len(strata("faults").splitlines()) == 1
    strata("fault", "CreateNetwork", "RequestLimitExceeded")
    assert "removed 1" in strata("fault", "clear")
