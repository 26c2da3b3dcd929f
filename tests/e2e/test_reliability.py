"""A control plane's weekly life, tried for real: its PostgreSQL restarted, its Redis killed and down a
while, its workers rolled one by one, while clusters are being created. The module runs its own
PostgreSQL and Redis servers (not the suite's) so that it can stop and start them."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from api_support import LOCAL_PROFILE
from reliability_support import Stack, control_plane

from helpers import wait_until, write_pack


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    yield from control_plane(request)


class Prober(threading.Thread):
    """Reads and writes through the API without pause; records (when, what, status) of every answer."""

    def __init__(self, stack: Stack, cluster: str):
        super().__init__(daemon=True)
        self.stack, self.cluster = stack, cluster
        self.answers: list[tuple[float, float, str, int, str]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        client = self.stack.client
        calls = {
            "list": lambda: client.get("/v1/clusters"),
            "get": lambda: client.get(f"/v1/clusters/{self.cluster}"),
            "events": lambda: client.get(f"/v1/clusters/{self.cluster}/events?limit=5"),
            "write": lambda: client.post("/v1/profiles", {**LOCAL_PROFILE, "name": f"probe-{time.monotonic_ns()}"}),
            "readyz": lambda: requests.get(f"{client.base}/readyz", timeout=30),
        }
        while not self.stopping.is_set():
            for what, call in calls.items():
                sent = time.monotonic()
                response = call()
                self.answers.append((sent, time.monotonic(), what, response.status_code, response.text[:300]))
            time.sleep(0.05)

    def stop(self) -> list[tuple[float, float, str, int, str]]:
        self.stopping.set()
        self.join(60)
        return self.answers


class Stream(threading.Thread):
    """An open event stream of one cluster; the ids it delivered, in order."""

    def __init__(self, stack: Stack, cluster: str):
        super().__init__(daemon=True)
        self.ids: list[int] = []
        self.response = stack.client.get(f"/v1/clusters/{cluster}/events/stream", stream=True)
        assert self.response.status_code == 200

    def run(self) -> None:
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line.startswith("id: "):
                    self.ids.append(int(line[4:]))
        except (requests.RequestException, AttributeError):  # close() pulled the connection from under it
            return

    def close(self) -> list[int]:
        self.response.close()
        self.join(10)
        return self.ids


def test_a_postgres_restart_costs_no_request_no_step_and_no_event(stack):
    ids = stack.create(10, "pg")
    stream = Stream(stack, ids[0])
    stream.start()
    prober = Prober(stack, ids[0])
    prober.start()
    time.sleep(2)
    down = time.monotonic()
    stack.stop_postgres()
    ready = requests.get(f"{stack.client.base}/readyz", timeout=30)
    assert ready.status_code == 503 and "database" in ready.json()["error"]["fields"]
    time.sleep(max(0.0, down + 3 - time.monotonic()))
    stack.start_postgres()
    up = time.monotonic()
    stack.all_running(ids)
    time.sleep(3)  # the stream catches up with the last events
    answers = prober.stop()
    delivered = stream.close()

    by_status = Counter(status for _, _, _, status, _ in answers)
    assert set(by_status) <= {200, 201, 503}, [a for a in answers if a[3] not in (200, 201, 503)][:3]
    # Only a request the outage overlapped may be refused: answered after the stop began, sent before it was back.
    late = [(sent - down, answered - down, up - down, *rest) for sent, answered, *rest in answers
            if rest[1] == 503 and not (answered >= down and sent <= up)]  # fmt: skip
    assert not late, late[:3]
    assert stack.sql("SELECT count(*) FROM steps WHERE cluster_id = ANY(%s::uuid[]) AND status <> 'succeeded'",
                     ids)[0][0] == 0  # fmt: skip
    events = [r[0] for r in stack.sql("SELECT seq FROM events WHERE cluster_id = %s ORDER BY seq", ids[0])]
    assert delivered == events
    print(f"answers during and after a PostgreSQL restart: {dict(by_status)}")


def test_redis_killed_then_down_for_a_while_loses_no_step(stack):
    ids = stack.create(5, "flush")
    time.sleep(1)
    stack.kill_redis()  # what was queued is gone with it
    stack.start_redis()
    stack.all_running(ids)

    stack.kill_redis()
    try:
        ready = requests.get(f"{stack.client.base}/readyz", timeout=30)
        assert ready.status_code == 503 and "redis" in ready.json()["error"]["fields"]
        assert stack.client.get(f"/v1/clusters/{ids[0]}").status_code == 200
        later = stack.create(3, "no-redis")  # committed; their steps wait for the re-drive
        assert len(later) == 3
        time.sleep(float(os.environ.get("RELIABILITY_REDIS_DOWN", "30")))
    finally:
        stack.start_redis()
    stack.all_running(later)


def test_workers_rolled_one_by_one_lose_and_repeat_nothing(stack):
    ids = stack.create(10, "roll")
    for proc in list(stack.processes.procs):
        service = Path(proc.log_path).stem  # type: ignore[attr-defined]
        if service not in ("imagebuilder", "provisioner", "addons", "beat") or proc.poll() is not None:
            continue
        proc.send_signal(signal.SIGTERM)  # Celery's warm shutdown: running tasks finish first
        proc.wait(60)
        stack.processes.procs.remove(proc)
        args = [*proc.args] if isinstance(proc.args, list) else proc.args
        stack.processes.start(service, args, stack.env)
        time.sleep(1)
    stack.all_running(ids)
    launches = stack.sql(
        "SELECT tags->>'strata:cluster', tags->>'strata:node', count(*) FROM lc_resources WHERE kind = 'instance'"
        " AND tags->>'strata:cluster' = ANY(%s) GROUP BY 1, 2 HAVING count(*) > 1",
        ids,
    )
    assert launches == []
    assert stack.sql("SELECT count(*) FROM steps WHERE cluster_id = ANY(%s::uuid[]) AND status <> 'succeeded'",
                     ids)[0][0] == 0  # fmt: skip


SLOW_ROLE = """---
- name: Slow | A customization longer than the shutdown grace
  ansible.builtin.command: sleep 7.5
  changed_when: true
"""
GRACE_SECONDS = 2  # a Deployment's terminationGracePeriodSeconds, shortened: SIGTERM, then SIGKILL


def test_a_step_longer_than_the_shutdown_grace_is_re_driven_after_its_lease(stack):
    registry = stack.root / "registry"
    write_pack(registry, "slow-os", "1.0.0", SLOW_ROLE)
    created = stack.client.post("/v1/registries", {"name": "slow", "source": str(registry)}).json()
    assert stack.client.post(f"/v1/registries/{created['id']}/sync").json()["failed"] == []
    profile = {"name": "slow", "layers": [{"pack": "slow-os", "version": "1.0.0"},
                                          {"pack": "kubernetes", "version": "1.32.1"}]}  # fmt: skip
    body = {**stack.body, "name": "slow", "profile": {"id": stack.client.post("/v1/profiles", profile).json()["id"]}}
    cluster = stack.client.post("/v1/clusters", body).json()["id"]
    image_step = "SELECT status, claimed_by, attempts FROM steps WHERE cluster_id = %s AND name = 'ensure_image'"
    wait_until(lambda: subprocess.run(["pgrep", "-fx", "sleep 7.5"], capture_output=True).returncode == 0,
               timeout=120, interval=0.2, message="the slow role running")  # fmt: skip
    status, first_worker, _ = stack.sql(image_step, cluster)[0]
    assert status == "running"

    builder = next(p for p in stack.processes.procs if Path(p.log_path).stem == "imagebuilder")  # type: ignore[attr-defined]
    builder.send_signal(signal.SIGTERM)  # warm shutdown: Celery waits for the running step...
    with pytest.raises(subprocess.TimeoutExpired):
        builder.wait(GRACE_SECONDS)  # ...longer than the grace, so it is killed with the step in flight
    os.killpg(builder.pid, signal.SIGKILL)
    killed = time.monotonic()
    builder.wait()
    stack.processes.procs.remove(builder)
    stack.processes.start("imagebuilder", builder.args, stack.env)

    stack.all_running([cluster])
    status, last_worker, attempts = stack.sql(image_step, cluster)[0]
    assert status == "succeeded" and last_worker != first_worker and attempts >= 2
    images = stack.sql("SELECT count(*) FROM lc_resources WHERE kind = 'image' AND deleted_at IS NULL"
                       " AND tags->>'strata:pack' = 'slow-os@1.0.0'")  # fmt: skip
    builders = stack.sql("SELECT count(*) FROM lc_resources WHERE kind = 'instance' AND deleted_at IS NULL"
                         " AND tags->>'strata:role' = 'image-builder'")  # fmt: skip
    assert (images[0][0], builders[0][0]) == (1, 0)
    print(f"image step killed {GRACE_SECONDS} s into a warm shutdown; cluster Running {time.monotonic() - killed:.1f} s"
          f" after the kill, the step run {attempts} times")  # fmt: skip
