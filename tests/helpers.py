"""Small helpers shared by the tests."""

from __future__ import annotations

import sys
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from strata_cli.embedded import free_port

STRATA = [sys.executable, "-m", "strata_cli.main"]


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
