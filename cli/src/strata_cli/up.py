"""`strata up`: the whole stack on one machine, with embedded PostgreSQL and Redis when none is set."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import dict_row

from strata_cli.database import prepare_database
from strata_cli.demo import start_demo
from strata_cli.embedded import EmbeddedPostgres, free_port, redis_command, wait_for_redis
from strata_cli.serve import COMPONENTS
from strata_cli.supervisor import Supervisor
from strata_common.config import load_settings, read_var
from strata_common.db.tokens import create_token
from strata_common.queues import SERVICES

STATE_FILE = "up.json"
METRICS_BASE_PORT = 9100


def state_dir_of(env: dict[str, str]) -> Path:
    return Path(env.get("STRATA_STATE_DIR") or ".strata").resolve()


def read_state(env: dict[str, str]) -> dict[str, Any]:
    """What the running `strata up` recorded (URLs of embedded servers, PIDs), or {}."""
    path = state_dir_of(env) / STATE_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def local_secret_key(state_dir: Path) -> str:
    """The stack's own secret key, generated once and kept in state_dir/secret_key (mode 0600)."""
    path = state_dir / "secret_key"
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(48))
    return path.read_text().strip()


def _ensure_local_token(state_dir: Path, database_url: str) -> None:
    """An admin token of project "default" in state_dir/token (mode 0600), so the CLI works at once."""
    path = state_dir / "token"
    if path.exists():
        return
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        _write_private(path, create_token(conn, "default", "admin", "strata up", platform_admin=True))


def metrics_ports(env: dict[str, str]) -> dict[str, int]:
    """The port each worker service answers /metrics on: the ones after STRATA_METRICS_PORT (9100 unless
    set; 0 turns them off)."""
    base = int(env.get("STRATA_METRICS_PORT") or METRICS_BASE_PORT)
    return {service: base + 1 + i for i, service in enumerate(SERVICES)} if base else {}


def taken_ports(env: dict[str, str]) -> list[str]:
    """The listening ports the stack needs that something else holds, each with the setting that moves it."""
    host, kubeapi = read_var("api_host", env), urlsplit(read_var("kubeapi_url", env))
    needed = [
        (host, read_var("api_port", env), "STRATA_API_PORT"),
        (host, read_var("flower_port", env), "STRATA_FLOWER_PORT"),
        (kubeapi.hostname or "127.0.0.1", kubeapi.port or 443, "STRATA_KUBEAPI_URL"),
        *((host, port, "STRATA_METRICS_PORT") for port in metrics_ports(env).values()),
    ]
    taken = []
    for host, port, setting in needed:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: a closed port's
            try:  # connections waiting out TIME_WAIT (a stack stopped a moment ago) do not hold it
                sock.bind((host, port))
            except OSError:
                taken.append(f"port {port} on {host} is in use; set {setting} to move it")
    return taken


def run_up(demo: bool = False, verbose: bool = False) -> int:
    env = dict(os.environ)
    taken = taken_ports(env)
    if taken:
        for problem in taken:
            print(f"strata up: {problem}", file=sys.stderr)
        return 2
    state_dir = state_dir_of(env)
    state_dir.mkdir(parents=True, exist_ok=True)
    env["STRATA_STATE_DIR"] = str(state_dir)
    sup = Supervisor(log_dir=state_dir / "logs", verbose=verbose)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: sup.stopping.set())
    postgres: EmbeddedPostgres | None = None
    state: dict[str, Any] = {"pid": os.getpid()}
    try:
        if not env.get("STRATA_DATABASE_URL"):
            postgres = EmbeddedPostgres(state_dir)
            env["STRATA_DATABASE_URL"] = state["database_url"] = postgres.start()
            state["postgres_pid"] = postgres.pid
            sup.say("strata", f"embedded PostgreSQL running from {postgres.pgdata}")
        if not env.get("STRATA_REDIS_URL"):
            port = free_port()
            sup.add("redis", redis_command(state_dir, port), env)
            env["STRATA_REDIS_URL"] = state["redis_url"] = f"redis://127.0.0.1:{port}/0"
            wait_for_redis(env["STRATA_REDIS_URL"])
        if not env.get("STRATA_SECRET_KEY"):
            env["STRATA_SECRET_KEY"] = local_secret_key(state_dir)
        settings = load_settings(env)
        sup.say("strata", prepare_database(settings.database_url))
        _ensure_local_token(state_dir, settings.database_url)
        ports = metrics_ports(env)
        for component in COMPONENTS:
            if sup.stopping.is_set():
                break
            own = {"STRATA_METRICS_PORT": str(ports.get(component, 0))}
            sup.add(component, [sys.executable, "-m", "strata_cli.main", "serve", component], {**env, **own})
        state["api_url"] = f"http://{settings.api_host}:{settings.api_port}"
        state["flower_url"] = f"http://{settings.api_host}:{settings.flower_port}"
        state["components"] = sup.pids()
        _write_private(state_dir / STATE_FILE, json.dumps(state, indent=2))
        sup.say("strata", f"API {state['api_url']}  Flower {state['flower_url']}  (Ctrl-C stops everything)")
        if ports:
            shown = ", ".join(f"{service} :{port}" for service, port in ports.items())
            sup.say("strata", f"metrics: {state['api_url']}/metrics (API and fleet), {shown} (worker services)")
        if demo:
            start_demo(
                state["api_url"], state_dir, state["flower_url"], lambda line: sup.say("demo", line), sup.stopping
            )
        sup.watch()
    finally:
        sup.say("strata", "stopping")
        sup.stop([c for c in reversed(COMPONENTS) if c in sup.pids()])
        if "redis" in sup.pids():
            sup.stop(["redis"])
        if postgres is not None:
            postgres.stop()
        (state_dir / STATE_FILE).unlink(missing_ok=True)
        sup.say("strata", "stopped")
    return 0
