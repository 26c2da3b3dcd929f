"""A thousand create/delete cycles, in small: fifty under SIGKILLs of workers leave no resource, no step
unfinished and no row of the clusters after the purge (bench/cycles.py runs the thousand). Its own
module so that the suite's test processes run it beside the other reliability tests."""

from __future__ import annotations

import os
import random
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_support import LIVE, Stack, control_plane

from helpers import wait_until


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    yield from control_plane(request)


@pytest.mark.timeout(600)  # 120-240 s alone in CI; 290 s once beside other heavy tests on the same 2 cores
def test_fifty_create_delete_cycles_under_sigkills_leave_nothing(stack):
    size = "SELECT pg_database_size(current_database())"
    stack.sql("VACUUM FULL")
    before = stack.sql(size)[0][0]
    ids: list[str] = []
    done = threading.Event()

    bare = {"name": "bare", "layers": [{"pack": "ubuntu-22.04", "version": "1.0.0"},
                                       {"pack": "kubernetes", "version": "1.32.1"}]}  # fmt: skip
    body = {**stack.body, "profile": {"id": stack.client.post("/v1/profiles", bare).json()["id"]}}

    def lane(n: int) -> None:
        for cycle in range(5):
            cluster = stack.client.post("/v1/clusters", {**body, "name": f"cycle-{n}-{cycle}"}).json()["id"]
            ids.append(cluster)
            stack.all_running([cluster])
            assert stack.client.delete(f"/v1/clusters/{cluster}").status_code == 202
            wait_until(lambda c=cluster: stack.sql(LIVE, c)[0][0] == 0, timeout=240, interval=0.5, message="deleted")

    def killer() -> None:
        rng = random.Random(16)
        while not done.wait(rng.uniform(4, 8)):
            proc = rng.choice([p for p in stack.processes.procs if Path(p.log_path).stem in
                               ("imagebuilder", "provisioner", "addons") and p.poll() is None])  # fmt: skip
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            stack.processes.procs.remove(proc)
            stack.processes.start(Path(proc.log_path).stem, proc.args, stack.env)

    lanes = [threading.Thread(target=lane, args=(n,)) for n in range(10)]
    kills = threading.Thread(target=killer, daemon=True)
    for thread in [*lanes, kills]:
        thread.start()
    for thread in lanes:
        thread.join(600)
    done.set()
    kills.join(30)
    assert len(ids) == 50

    def purged():
        left = stack.sql(
            "SELECT (SELECT count(*) FROM clusters WHERE id = ANY(%s::uuid[]))"
            " + (SELECT count(*) FROM lc_resources WHERE deleted_at IS NULL AND tags->>'strata:cluster' = ANY(%s))"
            " + (SELECT count(*) FROM kube_changes WHERE cluster_id = ANY(%s::uuid[]))",
            ids,
            ids,
            ids,
        )
        return left[0][0] == 0  # fmt: skip

    wait_until(purged, timeout=120, interval=1, message="no resource left; the clusters and their API objects purged")
    assert stack.sql("SELECT count(*) FROM steps WHERE status <> 'succeeded'")[0][0] == 0
    stack.sql("VACUUM")
    after = stack.sql(size)[0][0]
    stack.sql("VACUUM FULL")  # what is kept, without the free space PostgreSQL holds on to for reuse
    kept = stack.sql(size)[0][0]
    print(f"50 create/delete cycles: database {before / 2**20:.1f} MiB before, {after / 2**20:.1f} MiB after"
          f" (files), {kept / 2**20:.1f} MiB kept")  # fmt: skip
    assert kept <= before * 1.10
