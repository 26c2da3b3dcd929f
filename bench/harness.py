"""What every benchmark needs: PostgreSQL and Redis (embedded unless given), a fresh database, and env."""

from __future__ import annotations

import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from strata_cli.database import prepare_database
from strata_cli.embedded import EmbeddedPostgres, free_port, redis_command, wait_for_redis

HERE = Path(__file__).resolve().parent


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@contextmanager
def bench_env() -> Iterator[dict[str, str]]:
    """Environment for Strata processes on a new, prepared database; everything is removed afterwards.

    Uses STRATA_BENCH_DATABASE_URL (a server URL whose user may create databases) and
    STRATA_BENCH_REDIS_URL when set, else embedded servers under bench/.data.
    """
    with ExitStack() as stack:
        data = HERE / ".data"
        admin = os.environ.get("STRATA_BENCH_DATABASE_URL")
        if not admin:
            postgres = EmbeddedPostgres(data)
            admin = postgres.start()
            stack.callback(postgres.stop)
        redis_url = os.environ.get("STRATA_BENCH_REDIS_URL")
        if not redis_url:
            port = free_port()
            server = subprocess.Popen(redis_command(data, port), stdout=subprocess.DEVNULL)
            stack.callback(lambda: (server.terminate(), server.wait()))
            redis_url = f"redis://127.0.0.1:{port}/0"
            wait_for_redis(redis_url)
        name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

        def drop() -> None:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        stack.callback(drop)
        database_url = with_database(admin, name)
        prepare_database(database_url)
        yield {
            **os.environ,
            "STRATA_DATABASE_URL": database_url,
            "STRATA_REDIS_URL": redis_url,
            "STRATA_SECRET_KEY": secrets.token_urlsafe(48),
            "STRATA_LOG_LEVEL": "WARNING",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        }
