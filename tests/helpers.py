"""Small helpers shared by the tests."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from strata_cli.embedded import free_port

STRATA = [sys.executable, "-m", "strata_cli.main"]


def run_strata(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`strata ARGS` in a process of its own, as a user runs it."""
    return subprocess.run([*STRATA, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name`."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    """Poll `predicate` until it returns a truthy value; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {message}")
        time.sleep(interval)


def wait_answering(url: str, what: str, timeout: float = 60) -> None:
    """Block until GET `url` answers 2xx."""

    def answers() -> bool:
        try:
            return requests.get(url, timeout=2).ok
        except requests.RequestException:
            return False

    wait_until(answers, timeout=timeout, message=f"{what} to answer")


def start_api(processes, env: dict[str, str]) -> str:
    """Start `strata serve api` on a free port; return its base URL once /healthz answers."""
    port = free_port()
    processes.start("api", [*STRATA, "serve", "api"], {**env, "STRATA_API_PORT": str(port)})
    base = f"http://127.0.0.1:{port}"
    wait_answering(f"{base}/healthz", "the API's /healthz")
    return base


def stack_env(database_url: str, redis_url: str, state_dir: Path) -> dict[str, str]:
    """Environment for Strata processes bound to a database and Redis, every port a free one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    env.update(
        STRATA_DATABASE_URL=database_url,
        STRATA_REDIS_URL=redis_url,
        STRATA_SECRET_KEY=secrets.token_urlsafe(48),
        STRATA_STATE_DIR=str(state_dir),
        STRATA_LOG_LEVEL="INFO",
        STRATA_KUBEAPI_URL=f"https://127.0.0.1:{free_port()}",
        STRATA_API_PORT=str(free_port()),
        STRATA_FLOWER_PORT=str(free_port()),
        STRATA_API_WORKERS="2",
    )
    return env


class Processes:
    """Child processes started by a test, each in its own group, all killed at the end."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_path = self.log_dir / f"{name}.log"  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(15)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def print_logs(folder: Path) -> None:
    for log in sorted(folder.glob("*.log")):
        sys.stderr.write(
            f"----- {log.name}\n{log.read_text(errors='replace')[-int(os.environ.get('TEST_LOG_CHARS', '4000')) :]}\n"
        )


def write_pack(registry: Path, name: str, version: str, role: str, values: str = "motd: hello\n",
               base: str = "ubuntu-24.04", **os_changes: Any) -> None:  # fmt: skip
    """Publish an OS pack for the local cloud whose Ansible role `custom` is `role` in a folder registry, on the
    catalog image `base` (Ubuntu 24.04 has no CIS benchmark content: its images are not scanned)."""
    folder = registry / name / version
    (folder / "roles/custom/tasks").mkdir(parents=True)
    (folder / "roles/custom/tasks/main.yml").write_text(role)
    (folder / "values.yaml").write_text(values)
    manifest = {"name": name, "version": version, "layer": "os", "cloudTypes": ["local"],
                "os": {"family": "ubuntu", "version": base.split("-")[1], "roles": ["custom"],
                       "images": {"local": {"image": base}}, **os_changes}}  # fmt: skip
    (folder / "pack.json").write_text(json.dumps(manifest))
    index = registry / "index.json"
    entries = json.loads(index.read_text())["packs"] if index.exists() else []
    index.write_text(json.dumps({"name": "golden", "packs": [*entries, f"{name}/{version}"]}))
