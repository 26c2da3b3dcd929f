"""`strata up --demo`: once the stack answers, create a local cloud account, a profile from built-in
packs and a cluster (1 control plane, 2 workers), follow it to Running, then print what to explore."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

PROFILE = {
    "name": "demo",
    "description": "Ubuntu 22.04, Kubernetes 1.32, Calico, local-path storage, Prometheus, Permissions Manager",
    "layers": [
        {"pack": "ubuntu-22.04", "version": "1.0.0"},
        {"pack": "kubernetes", "version": "1.32.1"},
        {"pack": "calico", "version": "3.28.2"},
        {"pack": "local-path", "version": "0.0.30"},
        {"pack": "prometheus", "version": "2.54.1"},
        {"pack": "permissions-manager", "version": "1.0.0"},
    ],
}
POOLS = [
    {"name": "control-plane", "role": "controlPlane", "count": 1, "instanceType": "medium", "zones": ["local-1a"]},
    {"name": "workers", "role": "worker", "count": 2, "instanceType": "medium", "zones": ["local-1a", "local-1b"]},
]


class Demo:
    def __init__(self, api: str, token: str, state_dir: Path, flower: str, say: Callable[[str], None]):
        self.api, self.state_dir, self.flower, self.say = api, state_dir, flower, say
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.session.request(method, f"{self.api}{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def find_or_create(self, path: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        found = [item for item in self.call("GET", path)["items"] if item["name"] == name]
        return found[0] if found else self.call("POST", path, body)

    def run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                if requests.get(f"{self.api}/readyz", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        account = self.find_or_create("/v1/cloudaccounts", "local-demo", {"name": "local-demo", "cloud": "local"})
        profile = self.find_or_create("/v1/profiles", "demo", PROFILE)
        body = {"name": "demo", "profile": {"id": profile["id"]}, "cloudAccount": account["id"],
                "cloud": {"region": "local-1"}, "pools": POOLS}  # fmt: skip
        cluster = self.find_or_create("/v1/clusters?name=demo", "demo", body)
        self.say(f"cluster demo ({cluster['id']}): following its conditions")
        shown: dict[str, tuple[str, str]] = {}
        while not stopping.is_set():
            cluster = self.call("GET", f"/v1/clusters/{cluster['id']}")
            for condition in cluster["conditions"]:
                state = (condition["status"], condition["reason"])
                if shown.get(condition["type"]) != state:
                    shown[condition["type"]] = state
                    mark = {"True": "done", "False": "FAILING", "Unknown": "..."}[condition["status"]]
                    detail = f" - {condition['message']}" if condition["message"] else ""
                    self.say(f"{condition['title']:<28} {mark:<8} {condition['reason']}{detail}")
            if cluster["phase"] == "Running":
                self.summary(cluster)
                return
            time.sleep(1)

    def summary(self, cluster: dict[str, Any]) -> None:
        kubeconfig = self.state_dir / "demo-kubeconfig"
        fd = os.open(kubeconfig, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.call("GET", f"/v1/clusters/{cluster['id']}/kubeconfig")["kubeconfig"])
        pools = ", ".join(f"{p['name']} {p['count']} x {p['instanceType']}" for p in cluster["pools"])
        for line in (
            f"cluster demo is {cluster['phase']}: id {cluster['id']}, generation {cluster['generation']}, {pools}",
            f"kubeconfig: {kubeconfig} (the local cloud's Kubernetes API: kubectl --kubeconfig {kubeconfig} "
            "get pods -A)",
            f"API token (admin of project default): export STRATA_TOKEN=$(cat {self.state_dir / 'token'})",
            f"console: {self.api}/ui/ (sign in with that token)",
            f"API reference: {self.api}/docs   OpenAPI: {self.api}/openapi.json   Flower: {self.flower}",
            f"try: .venv/bin/strata cluster list; .venv/bin/strata events {cluster['id']}",
            "the stack keeps running; Ctrl-C stops everything",
        ):
            self.say(line)


def start_demo(api: str, state_dir: Path, flower: str, say: Callable[[str], None], stopping: threading.Event) -> None:
    """Run the demo in a thread of `strata up`; its failures are reported, the stack keeps running."""

    def run() -> None:
        try:
            Demo(api, (state_dir / "token").read_text().strip(), state_dir, flower, say).run(stopping)
        except (requests.RequestException, OSError, KeyError) as err:
            say(f"demo stopped: {err}")

    threading.Thread(target=run, name="demo", daemon=True).start()
