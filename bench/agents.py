"""The agents of pull-mode clusters, at rest and after an override, on the local cloud through the HTTP API
(gunicorn as `strata serve api` runs it) and the real workers, emulator and beat. The emulator's kubelet
runs each cluster's agent pod as a process of the agent's own code, polling the API every
STRATA_AGENT_INTERVAL seconds (BENCH_AGENT_INTERVAL, default 10, the product's default).

(a) BENCH_PULL_CLUSTERS pull-mode clusters (default 200; 1 control plane + 2 workers; OS, Kubernetes,
    Calico) to Running and every agent reporting; then, at rest for BENCH_REST_SECONDS (default 60):
    the API's CPU (its gunicorn processes, from /proc) as a share of one core, and the agents' requests
    per second by route and status (the API's own request counter).
(b) BENCH_OVERRIDES overrides (default 5) on pull clusters and as many on push clusters: seconds from the
    PUT to the override's step succeeding (pull: the agent applied it and reported; push: the add-ons
    service applied it and saw its workloads). Prints figures; asserts nothing.
"""

from __future__ import annotations

import os
import statistics
import time
from collections import Counter

import psutil
from harness import bench_env
from prometheus_client.parser import text_string_to_metric_families
from provision import Fleet

from strata_cli.embedded import free_port

CLUSTERS = int(os.environ.get("BENCH_PULL_CLUSTERS", "200"))
REST_SECONDS = float(os.environ.get("BENCH_REST_SECONDS", "60"))
OVERRIDES = int(os.environ.get("BENCH_OVERRIDES", "5"))
INTERVAL = os.environ.get("BENCH_AGENT_INTERVAL", "10")
PROFILE = {"name": "bench-pull", "layers": [{"pack": "ubuntu-22.04", "version": "1.0.0"},
                                            {"pack": "kubernetes", "version": "1.32.1"},
                                            {"pack": "calico", "version": "3.28.2"}]}  # fmt: skip
PULL = {"mode": "pull", "agentTimeout": 120}


def api_cpu_seconds(api: psutil.Process) -> float:
    """CPU seconds of the API's gunicorn master and workers."""
    total = 0.0
    for proc in [api, *api.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def agent_requests(fleet: Fleet) -> Counter:
    """The API's request counter for the agent API, by (route, status)."""
    text = fleet.session.get(f"{fleet.api}/metrics", timeout=10).text
    counts: Counter = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            route = sample.labels.get("route", "")
            if sample.name == "strata_http_requests_total" and route.startswith("/v1/agent/"):
                counts[route.rsplit("/", 1)[-1], sample.labels["status"]] += sample.value
    return counts


def wait(condition, timeout: float, what: str) -> float:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise TimeoutError(what)
        time.sleep(0.1)
    return time.perf_counter() - start


def override_seconds(fleet: Fleet, cluster: str, mtu: int) -> float:
    """Seconds from an override's PUT to its step succeeding."""
    start = time.perf_counter()
    answer = fleet.session.put(f"{fleet.api}/v1/clusters/{cluster}/packs/calico/values", json={"mtu": mtu}, timeout=30)
    answer.raise_for_status()
    generation = answer.json()["applying"]["generation"]
    sql = ("SELECT count(*) FROM steps WHERE cluster_id = %s AND generation = %s AND name = 'ensure_pack/calico'"
           " AND status = 'succeeded'")  # fmt: skip
    wait(lambda: fleet.value(sql, cluster, generation) == 1, 300, "the override applied")
    return time.perf_counter() - start


def main() -> None:
    with bench_env() as env:
        port = free_port()
        env = {**env, "STRATA_AGENT_API_URL": f"http://127.0.0.1:{port}", "STRATA_AGENT_INTERVAL": INTERVAL}
        fleet = Fleet(env, api_port=port, profile=PROFILE)
        try:
            fleet.workers_with(0.0)
            start = time.perf_counter()
            pulled = [fleet.create(f"pull-{i}", management=PULL) for i in range(CLUSTERS)]
            fleet.until_running(pulled)
            print(f"{CLUSTERS} pull-mode clusters Running in {time.perf_counter() - start:.0f}s")
            reporting = "SELECT count(*) FROM agent_reports WHERE reported_at > now() - interval '60 seconds'"
            wait(lambda: fleet.value(reporting) >= CLUSTERS, 600, "every agent reporting")
            time.sleep(max(float(INTERVAL) * 3, 20))  # the install's last reports and applies settle
            api = psutil.Process(fleet.procs[0].pid)
            cpu, requests_before, began = api_cpu_seconds(api), agent_requests(fleet), time.perf_counter()
            time.sleep(REST_SECONDS)
            elapsed = time.perf_counter() - began
            used = api_cpu_seconds(api) - cpu
            counted = agent_requests(fleet) - requests_before
            print(f"at rest, {CLUSTERS} agents polling every {INTERVAL}s, over {elapsed:.0f}s:")
            print(f"  API CPU: {used:.2f}s = {100 * used / elapsed:.1f}% of one core")
            print(
                f"  agent requests: {sum(counted.values()) / elapsed:.1f}/s "
                + ", ".join(f"{route} {status}: {n / elapsed:.1f}/s" for (route, status), n in sorted(counted.items()))
            )
            pushed = [fleet.create(f"push-{i}") for i in range(OVERRIDES)]
            fleet.until_running(pushed)
            for label, clusters in (("pull", pulled[:OVERRIDES]), ("push", pushed)):
                times = [override_seconds(fleet, cluster, 1400 + i) for i, cluster in enumerate(clusters)]
                print(
                    f"override to applied, {label} mode: mean {statistics.mean(times):.1f}s, "
                    f"max {max(times):.1f}s over {len(times)} clusters"
                )
        finally:
            fleet.stop()


if __name__ == "__main__":
    main()
