"""`strata up --demo` (what `make demo` runs) on a bare machine: embedded PostgreSQL and Redis, every
component up, a demo cluster Running, and Ctrl-C stops every process."""

import json
import os
import random
import signal
import socket

import psutil
import requests

from helpers import STRATA, run_strata, wait_until
from strata_cli.embedded import free_port
from strata_common.engine.conditions import MILESTONES


def free_run_of_ports(count: int) -> int:
    """A port whose `count` successors are free, below the ephemeral range that free_port() and every
    outgoing connection draw from (a successor of a free ephemeral port may be taken a moment later)."""
    while True:
        base = random.randrange(20000, 30000)
        try:
            for port in range(base + 1, base + 1 + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base


def test_strata_up_runs_the_stack_and_sigint_stops_every_process(tmp_path, processes):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    api_port, flower_port, metrics_base = free_port(), free_port(), free_run_of_ports(3)
    env.update(
        STRATA_METRICS_PORT=str(metrics_base),  # the worker services answer on the three ports after it
        STRATA_STATE_DIR=str(tmp_path / "state"),
        STRATA_API_PORT=str(api_port),
        STRATA_FLOWER_PORT=str(flower_port),
        STRATA_LOCALCLOUD_TIME_SCALE="0.02",
        STRATA_KUBEAPI_URL=f"https://127.0.0.1:{free_port()}",
    )
    up = processes.start("up", [*STRATA, "up", "--demo"], env)
    state_file = tmp_path / "state" / "up.json"
    wait_until(state_file.exists, timeout=120, message="up.json")
    state = json.loads(state_file.read_text())

    ready = wait_until(
        lambda: _get(f"http://127.0.0.1:{api_port}/readyz"), timeout=120, message="/readyz to answer 200"
    )
    assert ready.json()["status"] == "ready"

    def flower_workers():
        response = _get(f"http://127.0.0.1:{flower_port}/api/workers?refresh=1")
        names = {name.split("@")[0] for name in response.json()} if response else set()
        return names >= {"imagebuilder", "provisioner", "addons"} and names

    wait_until(flower_workers, timeout=120, interval=1, message="Flower to list the three worker services")

    status = run_strata(env, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    for component in ("postgres", "redis", "api", "flower", "imagebuilder", "provisioner", "addons", "beat"):
        assert f"{component} " in status.stdout

    wait_until(lambda: "cluster demo is Running" in (tmp_path / "up.log").read_text(), timeout=180, interval=1,
               message="the demo cluster to be Running")  # fmt: skip
    kubeconfig = (tmp_path / "state" / "demo-kubeconfig").read_text()
    assert "certificate-authority-data" in kubeconfig
    token = (tmp_path / "state" / "token").read_text().strip()
    shown = (tmp_path / "up.log").read_text()
    assert token not in shown  # the demo names the token's file, never the token
    # what a person reads: each milestone's line, the components' starts, no Celery or access chatter
    assert len(shown.splitlines()) < 60, shown
    for title in MILESTONES.values():
        if title in ("Updating Control Plane", "Replacing Worker Nodes", "Scaling Worker Pools",
                     "Replacing Unhealthy Nodes"):  # fmt: skip
            continue
        assert f"| {title}" in shown, title
    assert "received" not in shown and "GET /v1/" not in shown
    api_log = run_strata(env, "logs", "api")
    assert api_log.returncode == 0 and "GET /v1/" in api_log.stdout  # every line is in the component's log
    assert run_strata(env, "logs", "nonesuch").returncode != 0
    provisioner = run_strata(env, "logs", "provisioner").stdout
    assert "ready." in provisioner and "] received" not in provisioner  # no Celery line per task
    assert "GET /clusters/" not in run_strata(env, "logs", "kubeapi").stdout  # the emulator keeps no access log
    assert f"provisioner :{metrics_base + 2}" in shown
    provisioner_metrics = requests.get(f"http://127.0.0.1:{metrics_base + 2}/metrics", timeout=10).text
    assert 'strata_steps_succeeded_total{service="provisioner",step="ensure_network"} 1.0' in provisioner_metrics

    tree = psutil.Process(up.pid).children(recursive=True)
    pids = {p.pid for p in tree} | {state["postgres_pid"], up.pid}
    assert len(tree) >= 8  # redis, api, 3 workers, beat, flower, and their pool children

    up.send_signal(signal.SIGINT)
    assert up.wait(90) == 0
    assert [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"] == []
    assert not state_file.exists()

    stopped = run_strata(env, "status")
    assert stopped.returncode == 1


def _get(url: str) -> requests.Response | None:
    try:
        response = requests.get(url, timeout=3)
    except requests.RequestException:
        return None
    return response if response.ok else None


def test_strata_up_refuses_a_taken_port_naming_it_and_its_setting(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        env.update(STRATA_STATE_DIR=str(tmp_path / "state"), STRATA_API_PORT=str(free_port()),
                   STRATA_FLOWER_PORT=str(free_port()), STRATA_KUBEAPI_URL=f"https://127.0.0.1:{port}")  # fmt: skip
        result = run_strata(env, "up")
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use; set STRATA_KUBEAPI_URL to move it" in result.stderr
    assert not (tmp_path / "state" / "up.json").exists()  # nothing was started
