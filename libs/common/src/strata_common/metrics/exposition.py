"""Serving the metrics: one registry per scrape that sums every process's value files (multiprocess
mode), the directory those files live in, and the small HTTP server a worker service answers
/metrics, /healthz and /readyz on (its Celery parent process runs it; the API serves the same paths
itself)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.registry import Collector

from strata_common.processes import pid_alive

log = logging.getLogger(__name__)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir(state_dir: str, component: str, pid: int) -> str:
    """A fresh value-file directory for the process tree of `pid` (which `strata serve` keeps when it
    execs the component); directories of processes that are gone are removed."""
    root = Path(state_dir).resolve() / "metrics"
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("*-*"):
        old_pid = old.name.rsplit("-", 1)[1]
        if old_pid.isdigit() and (int(old_pid) == pid or not pid_alive(int(old_pid))):
            shutil.rmtree(old, ignore_errors=True)
    path = root / f"{component}-{pid}"
    path.mkdir()
    return str(path)


def mark_process_dead(pid: int) -> None:
    """Drop a finished child's live gauges (its counters stay summed, as Prometheus expects)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)


def render(extra: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """The text exposition of every process's metrics plus `extra` collectors, and its content type."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Default())
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Default:
    """The in-process default registry's metrics (a process not started by `strata serve`)."""

    def collect(self):
        return REGISTRY.collect()


def serve(host: str, port: int, readiness: Callable[[], dict[str, str]]) -> ThreadingHTTPServer | None:
    """Answer /metrics, /healthz and /readyz on `host:port` from a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                body, kind = render()
                self._answer(200, body, kind)
            elif self.path == "/healthz":
                self._answer(200, b'{"status": "ok"}', "application/json")
            elif self.path == "/readyz":
                failures = readiness()
                status, answer = (
                    (503, {"status": "not ready", "checks": failures}) if failures else (200, {"status": "ready"})
                )
                self._answer(status, json.dumps(answer).encode(), "application/json")
            else:
                self._answer(404, b'{"error": {"code": "not_found", "message": "metrics, healthz or readyz"}}',
                             "application/json")  # fmt: skip

        def _answer(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # scrapes every few seconds: no access log
            return

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as err:  # the worker still works; only its metrics and probes are missing
        log.error("cannot answer metrics on %s:%d: %s (set STRATA_METRICS_PORT to a free port)", host, port, err)
        return None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics, healthz and readyz on http://%s:%d", host, port)
    return server
