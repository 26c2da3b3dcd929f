"""Operating Strata: the metrics each component exports, checked against the steps a cluster ran, and the
Helm chart linted, validated by the API server (server-side dry run), installed, upgraded and uninstalled
with the real Helm 4 binary on a cluster Strata made on the local cloud (its Kubernetes API emulator)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
import yaml
from api_support import LOCAL_PROFILE, Client, cluster_request, make_token
from engine_support import connect
from prometheus_client.parser import text_string_to_metric_families

from helpers import wait_until
from strata_common.queues import SERVICES

REPO = Path(__file__).resolve().parents[2]
CHART = str(REPO / "helm" / "strata")
TOOLS = Path(os.environ.get("STRATA_TEST_KUBE_TOOLS") or REPO / ".tools" / "kube")  # `make helm-deps` fills it
FLEET_ENV = {"STRATA_HEALTH_INTERVAL": "3600"}  # no health checks while the counts are compared
VALUES = ["--set", "secretKey=" + "k" * 40, "--set", "database.url=postgresql://strata:pw@db.example:5432/strata",
          "--set", "redis.url=redis://redis.example:6379/0"]  # fmt: skip
RELEASE, NAMESPACE = "ops", "strata-system"
COMPONENTS = {"api", "imagebuilder", "provisioner", "addons", "beat", "flower", "kubeapi"}


@pytest.fixture(scope="module")
def cluster(module_stack, module_api, module_fleet, tmp_path_factory) -> dict:
    """One Running cluster on the local cloud, all its steps finished; its kubeconfig in a file."""
    env = module_stack[0]
    op = Client(module_api, make_token(env["STRATA_DATABASE_URL"], "ops", "admin"))
    account = op.post("/v1/cloudaccounts", {"name": "lab", "cloud": "local"}).json()["id"]
    profile = op.post("/v1/profiles", {**LOCAL_PROFILE, "name": "ops"}).json()["id"]
    pools = [{"name": "cp", "role": "controlPlane", "count": 1, "instanceType": "medium", "zones": ["local-1a"]},
             {"name": "w", "role": "worker", "count": 2, "instanceType": "large", "zones": ["local-1a"]}]  # fmt: skip
    created = op.post("/v1/clusters", cluster_request(profile, account, name="ops", pools=pools))
    assert created.status_code == 202, created.text
    cluster_id = created.json()["id"]

    def settled():
        with connect(env["STRATA_DATABASE_URL"]) as conn:
            unfinished = conn.execute(
                "SELECT count(*) AS n FROM steps WHERE cluster_id = %s AND status IN ('pending', 'ready', 'running',"
                " 'failed')", (cluster_id,)
            ).fetchone()["n"]  # fmt: skip
        return op.get(f"/v1/clusters/{cluster_id}").json()["phase"] == "Running" and unfinished == 0

    wait_until(settled, timeout=180, interval=0.3, message="the cluster Running with every step finished")
    kubeconfig = tmp_path_factory.mktemp("ops") / "kubeconfig"
    kubeconfig.write_text(op.get(f"/v1/clusters/{cluster_id}/kubeconfig").json()["kubeconfig"])
    return {"id": cluster_id, "kubeconfig": str(kubeconfig), "database_url": env["STRATA_DATABASE_URL"]}


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a /metrics answer, parsed by prometheus_client's own text parser."""
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain; version=")  # the text exposition format
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}  # fmt: skip


def total(samples: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls)


def test_metrics_count_the_steps_the_cluster_ran(cluster, module_fleet, module_api):
    with connect(cluster["database_url"]) as conn:
        steps = conn.execute(
            "SELECT queue, name, status, attempts FROM steps WHERE cluster_id = %s", (cluster["id"],)
        ).fetchall()
    # a wait (requeue) is not an attempt: attempts = successes + failures + runs whose outcome was not recorded
    # (on a loaded machine a heartbeat can come late: another worker takes the step over, and the run it took
    # it from is counted as lost once it ends, which may be after the step has finished)
    attempts, successes = Counter(), Counter()
    for step in steps:  # counted by kind: ensure_node/w-1 and ensure_node/w-2 are both ensure_node
        kind = step["name"].split("/", 1)[0]
        attempts[step["queue"], kind] += step["attempts"]
        successes[step["queue"], kind] += step["status"] == "succeeded"
    assert {queue for queue, _ in attempts} == set(SERVICES)

    def mismatches() -> list[str]:
        found = []
        for service in SERVICES:
            samples = scrape(f"http://127.0.0.1:{module_fleet[f'METRICS_PORT_{service}']}/metrics")
            for (queue, kind), tried in attempts.items():
                if queue != service:
                    continue
                labels = {"service": service, "step": kind}
                succeeded = total(samples, "strata_steps_succeeded_total", **labels)
                failed = total(samples, "strata_steps_failed_total", **labels)
                waited = total(samples, "strata_steps_requeued_total", **labels)
                lost = total(samples, "strata_step_claims_lost_total", **labels)
                claimed = total(samples, "strata_steps_claimed_total", **labels)
                timed = total(samples, "strata_step_duration_seconds_count", **labels)  # each run timed
                if (succeeded, failed + lost) != (successes[queue, kind], tried - successes[queue, kind]):
                    found.append(f"{kind}: {succeeded} succeeded, {failed + lost} failed or lost; the database "
                                 f"says {successes[queue, kind]} of {tried} attempts succeeded")  # fmt: skip
                if not claimed == succeeded + failed + waited + lost == timed:
                    found.append(
                        f"{kind}: {claimed} claimed, {timed} timed, {succeeded + failed + waited + lost} ended"
                    )
                if total(samples, "strata_step_duration_seconds_bucket", le="+Inf", **labels) != timed:
                    found.append(f"{kind}: the histogram's +Inf bucket is not its count")
                if not 0 < total(samples, "strata_step_duration_seconds_sum", **labels) < 600:
                    found.append(f"{kind}: a duration sum out of bounds")
            runs = total(samples, "strata_localcloud_calls_total", action="RunInstances", fault="none")
            if service == "provisioner" and runs < 3:  # the local cloud's calls are counted where its driver runs
                found.append("fewer than 3 RunInstances counted")
        return found

    for _ in range(60):  # until every run has ended (a minute at most)
        found = mismatches()
        if not found:
            break
        time.sleep(1)
    assert found == []
    probes = f"http://127.0.0.1:{module_fleet['METRICS_PORT_provisioner']}"
    assert requests.get(f"{probes}/healthz", timeout=5).status_code == 200
    assert requests.get(f"{probes}/readyz", timeout=5).json() == {"status": "ready"}

    api = scrape(f"{module_api}/metrics")
    assert total(api, "strata_http_requests_total", route="/v1/clusters", method="POST", status="202") == 1
    assert total(api, "strata_http_request_duration_seconds_count", route="/v1/clusters/<cluster_id>") >= 1
    assert total(api, "strata_clusters", phase="Running") == 1
    assert total(api, "strata_steps") == 0  # every step finished
    assert total(api, "strata_oldest_ready_step_age_seconds") == 0
    assert {dict(labels)["queue"] for name, labels in api if name == "strata_queue_messages"} == {*SERVICES, "control"}
    assert not [name for name, labels in api if "cluster" in dict(labels)]  # no unbounded label


def run(tool: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    path = TOOLS / tool
    assert path.exists(), f"{path} is missing: `make helm-deps` fetches Helm and kubectl"
    return subprocess.run([str(path), *args], input=stdin, capture_output=True, text=True, timeout=300)


def test_chart_lints_and_names_each_missing_setting():
    assert run("helm", "lint", CHART, "--strict", *VALUES).returncode == 0
    refused = run("helm", "lint", CHART)
    assert refused.returncode != 0
    for field in ("/secretKey", "/database/url", "/redis/url"):
        assert field in refused.stdout + refused.stderr
    assert run("helm", "lint", CHART, "--set", "existingSecret=mine").returncode == 0
    toggles = ["metrics.serviceMonitor.enabled=true", "ingress.enabled=true", "kubeapi.enabled=false",
               "flower.enabled=false"]  # fmt: skip
    optional = run("helm", "template", RELEASE, CHART, *VALUES, *(f"--set={t}" for t in toggles))
    kinds = Counter(doc["kind"] for doc in yaml.safe_load_all(optional.stdout) if doc)
    assert kinds["ServiceMonitor"] == 4 and kinds["Ingress"] == 1 and kinds["Deployment"] == 5, kinds
    dashboard = next(doc for doc in yaml.safe_load_all(optional.stdout) if doc and doc["kind"] == "ConfigMap"
                     and doc["metadata"]["name"].endswith("-dashboard"))  # fmt: skip
    panels = json.loads(dashboard["data"]["strata.json"])["panels"]
    assert any("strata_oldest_ready_step_age_seconds" in t["expr"] for p in panels for t in p["targets"])


def test_chart_installs_upgrades_and_uninstalls_on_a_local_cluster(cluster):
    kube = ["--kubeconfig", cluster["kubeconfig"], "--namespace", NAMESPACE]

    def kubectl_json(*args: str) -> dict:
        done = run("kubectl", *kube, *args, "-o", "json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert run("kubectl", *kube, "create", "namespace", NAMESPACE).returncode == 0
    rendered = run(
        "helm", "template", RELEASE, CHART, "--namespace", NAMESPACE, *VALUES, "--set", "ingress.enabled=true"
    )
    assert rendered.returncode == 0, rendered.stderr
    objects = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    checked = run("kubectl", *kube, "apply", "--server-side", "--dry-run=server", "-f", "-", stdin=rendered.stdout)
    assert checked.returncode == 0, checked.stderr
    assert len(checked.stdout.splitlines()) == len(objects)
    assert not kubectl_json("get", "deployments")["items"]  # a dry run stores nothing

    installed = run("helm", "install", RELEASE, CHART, *kube, *VALUES, "--wait", "--timeout", "3m")
    assert installed.returncode == 0, installed.stderr
    assert "strata token create" in installed.stdout  # NOTES.txt: how to get the first token
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d
                   for d in kubectl_json("get", "deployments")["items"]}  # fmt: skip
    assert set(deployments) == COMPONENTS
    for name, deployment in deployments.items():
        assert deployment["status"].get("availableReplicas", 0) == deployment["spec"]["replicas"] >= 1, name
    assert deployments["beat"]["spec"]["strategy"]["type"] == "Recreate"
    status = json.loads(run("helm", "status", RELEASE, *kube, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed"
    hooks = {hook["kind"]: hook["last_run"]["phase"] for hook in status["hooks"]}
    assert hooks == {"Secret": "Succeeded", "Job": "Succeeded"}  # the migration Job ran to completion
    assert not kubectl_json("get", "jobs")["items"]  # and was removed with its Secret once it had
    api_before = deployments["api"]

    upgraded = run("helm", "upgrade", RELEASE, CHART, *kube, "--reuse-values", "--set",
                   "config.STRATA_LOG_LEVEL=DEBUG", "--wait", "--timeout", "3m")  # fmt: skip
    assert upgraded.returncode == 0, upgraded.stderr
    api = kubectl_json("get", "deployment", f"{RELEASE}-strata-api")
    annotations = api["spec"]["template"]["metadata"]["annotations"]
    assert (
        annotations["checksum/config"] != api_before["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    )
    assert api["metadata"]["generation"] == api["status"]["observedGeneration"] == 2
    assert api["status"]["updatedReplicas"] == api["status"]["availableReplicas"] == 2
    config = kubectl_json("get", "configmap", f"{RELEASE}-strata-config")
    assert config["data"]["STRATA_LOG_LEVEL"] == "DEBUG"
    sets = kubectl_json("get", "replicasets", "-l", "app.kubernetes.io/component=api")["items"]
    assert sorted(rs["spec"]["replicas"] for rs in sets) == [0, 2]  # rolled: the old set scaled down

    removed = run("helm", "uninstall", RELEASE, *kube, "--wait", "--timeout", "3m")
    assert removed.returncode == 0, removed.stderr
    left = run("kubectl", *kube, "get", "all,configmaps,secrets,poddisruptionbudgets,serviceaccounts,jobs",
               "-l", f"app.kubernetes.io/instance={RELEASE}", "-o", "name")  # fmt: skip
    assert left.returncode == 0 and left.stdout.strip() == "", left.stdout
    assert not kubectl_json("get", "secrets", "-l", "owner=helm")["items"]  # the release's record too
