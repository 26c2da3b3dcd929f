"""Fleet benchmark: BENCH_FLEET_CLUSTERS clusters (default 1,000; 1 control plane + 2 workers) whose
profile carries Calico, local-path, Prometheus, Vault and Permissions Manager, created through the
HTTP API on the local cloud at time scale 0, with the whole stack on this machine.

Prints, every 30 s, the clusters Running and the pack steps finished; at the end (all Running, or
BENCH_FLEET_TIMEOUT seconds, default 900): time to all Running, clusters/min, steps/s, objects
applied/s, the p50/p99 of `GET /v1/clusters?limit=100` and of a cluster's event page while it
happened and for 30 s at rest afterwards, one more cluster's time to Running with an empty fleet and
with the fleet present, the peak memory (PSS) and CPU seconds of each service and of the whole stack
(PostgreSQL included), and PostgreSQL's size per cluster. Asserts nothing (issue 17's targets: <= 5 minutes, < 4 GiB).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from addons import LAYERS, POOLS
from harness import bench_env
from provision import Fleet

CLUSTERS = int(os.environ.get("BENCH_FLEET_CLUSTERS", "1000"))
TIMEOUT = float(os.environ.get("BENCH_FLEET_TIMEOUT", "900"))
REST_SECONDS = 30.0


def one_more(fleet: Fleet, profile: str, name: str) -> float:
    """Seconds from creating one more cluster to its Running."""
    start = time.perf_counter()
    fleet.until_running([fleet.create(name, profile=profile, pools=POOLS)])
    return time.perf_counter() - start


class Prober(threading.Thread):
    """Reads a page of clusters and one cluster's events without pause; their latencies."""

    def __init__(self, fleet: Fleet, cluster: str):
        super().__init__(daemon=True)
        self.fleet, self.cluster = fleet, cluster
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.stopping = threading.Event()

    def run(self) -> None:
        pages = {"clusters page": "/v1/clusters?limit=100", "event page": f"/v1/clusters/{self.cluster}/events"}
        while not self.stopping.is_set():
            for what, path in pages.items():
                start = time.perf_counter()
                self.fleet.session.get(f"{self.fleet.api}{path}", timeout=60).raise_for_status()
                self.latencies[what].append(time.perf_counter() - start)
            time.sleep(0.1)


class Usage(threading.Thread):
    """Samples the stack's processes (by service) every 2 s: peak memory and CPU seconds used. Memory is the
    proportional set size (shared pages divided among the processes sharing them: PostgreSQL's shared
    buffers and forked workers' common pages count once)."""

    def __init__(self, fleet: Fleet, data: Path):
        super().__init__(daemon=True)
        self.fleet, self.data = fleet, str(data)
        self.peaks: dict[str, int] = defaultdict(int)
        self.cpu: dict[int, tuple[str, float]] = {}
        self.baseline: dict[int, float] = {}
        self.stopping = threading.Event()
        self.tick = os.sysconf("SC_CLK_TCK")
        data_directory = Path(fleet.value("SHOW data_directory"))
        self.postmaster = int((data_directory / "postmaster.pid").read_text().split()[0])

    def _service(self, pid: int, parent: int) -> str | None:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            pgid = os.getpgid(pid)
        except (OSError, ProcessLookupError):
            return None
        if self.data in cmdline and "redis" in cmdline:
            return "redis"
        if self.postmaster in (pid, parent):
            return "postgres"
        for proc in self.fleet.procs:
            if proc.poll() is None and pgid == proc.pid:
                return str(proc.args[-1])
        return None

    def run(self) -> None:
        self.sample()
        self.baseline = {pid: seconds for pid, (_, seconds) in self.cpu.items()}
        while not self.stopping.wait(2):
            self.sample()

    def sample(self) -> None:
        totals: dict[str, int] = defaultdict(int)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if (service := self._service(int(entry.name), int(stat[1]))) is None:
                    continue
                rollup = (entry / "smaps_rollup").read_text().splitlines()
            except OSError:
                continue
            self.cpu[int(entry.name)] = (service, (int(stat[11]) + int(stat[12])) / self.tick)
            pss = next((line for line in rollup if line.startswith("Pss:")), None)
            totals[service] += int(pss.split()[1]) * 1024 if pss else 0
        totals["whole stack"] = sum(totals.values())
        for service, rss in totals.items():
            self.peaks[service] = max(self.peaks[service], rss)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds each service used since sampling began (processes gone meanwhile included)."""
        used: dict[str, float] = defaultdict(float)
        for pid, (service, seconds) in self.cpu.items():
            used[service] += seconds - self.baseline.get(pid, 0.0)
        return used


def main() -> None:
    with bench_env() as env:
        fleet = Fleet(env)
        try:
            fleet.workers_with(0.0)
            profile = fleet.session.post(f"{fleet.api}/v1/profiles", json={"name": "fleet", "layers": LAYERS},
                                         timeout=30).json()["id"]  # fmt: skip
            first = fleet.create("warm-up", profile=profile, pools=POOLS)
            fleet.until_running([first])  # builds the image the others reuse
            empty = one_more(fleet, profile, "first")
            prober, usage = Prober(fleet, first), Usage(fleet, Path(__file__).resolve().parent / ".data")
            prober.start()
            usage.start()
            steps_before = fleet.value("SELECT count(*) FROM steps WHERE status = 'succeeded'")
            start = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                ids = list(pool.map(lambda n: fleet.create(f"f{n}", profile=profile, pools=POOLS), range(CLUSTERS)))
            submitted = time.perf_counter() - start
            print(f"{CLUSTERS} clusters submitted in {submitted:.1f} s", flush=True)
            next_report = 30.0
            while (running := fleet.running(ids)) < len(ids) and time.perf_counter() - start < TIMEOUT:
                if time.perf_counter() - start > next_report:
                    packs = fleet.value("SELECT count(*) FROM steps WHERE name LIKE 'ensure_pack/%%'"
                                  " AND status = 'succeeded' AND cluster_id = ANY(%s::uuid[])", ids)  # fmt: skip
                    print(f"  {next_report:.0f} s: {running} Running, {packs} pack steps done", flush=True)
                    next_report += 30
                time.sleep(1)
            elapsed = time.perf_counter() - start
            prober.stopping.set()
            usage.stopping.set()
            prober.join()
            usage.join()
            full = one_more(fleet, profile, "last")
            resting = Prober(fleet, first)
            resting.start()
            time.sleep(REST_SECONDS)
            resting.stopping.set()
            resting.join()
            steps = fleet.value("SELECT count(*) FROM steps WHERE status = 'succeeded'") - steps_before
            objects = fleet.value("SELECT coalesce(sum((output ->> 'objects')::int), 0) FROM steps WHERE"
                            " name LIKE 'ensure_pack/%%' AND cluster_id = ANY(%s::uuid[])", ids)  # fmt: skip
            size = fleet.value("SELECT pg_database_size(current_database())")
            done = "all Running" if running == len(ids) else f"only {running} Running (timeout)"
            print(f"{CLUSTERS} clusters (1+2 nodes, 5 packs), time scale 0: {done} in {elapsed:.1f} s "
                  f"(target <= 300 s); {running / elapsed * 60:.0f} clusters/min; {steps / elapsed:.0f} steps/s; "
                  f"{objects / elapsed:.0f} objects applied/s")  # fmt: skip
            for when, each in (
                ("while they were created", prober),
                (f"then, {CLUSTERS + 3} clusters at rest", resting),
            ):
                for what, values in each.latencies.items():
                    values.sort()
                    print(f"  {what} {when}: p50 {statistics.median(values) * 1000:.1f} ms, "
                          f"p99 {values[int(len(values) * 0.99)] * 1000:.1f} ms ({len(values)} requests; "
                          "target at rest < 20 ms p99)")  # fmt: skip
            print(f"  one more cluster: {empty:.2f} s with an empty fleet, {full:.2f} s with {CLUSTERS + 2} clusters"
                  f" present; ratio {full / empty:.2f} (target <= 1.2)")  # fmt: skip
            peaks = ", ".join(f"{service} {rss / 2**20:.0f}" for service, rss in sorted(usage.peaks.items()))
            print(f"  peak memory (PSS), MiB: {peaks} (target: whole stack < 4096)")
            cpu = usage.cpu_seconds()
            print(
                "  CPU seconds used meanwhile: "
                + ", ".join(
                    f"{service} {seconds:.0f}" for service, seconds in sorted(cpu.items(), key=lambda item: -item[1])
                )
                + f" (of {2 * elapsed:.0f} on 2 cores)"
            )
            print(f"  PostgreSQL: {size / 2**20:.0f} MiB, {size / (CLUSTERS + 1) / 1024:.0f} KiB per cluster")
        finally:
            fleet.stop()


if __name__ == "__main__":
    main()
