"""`strata status`: is each component of the stack up? Workers are checked by a real round trip."""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass

import psycopg
import redis
import requests

from strata_cli.up import read_state
from strata_common.celery_app import create_celery
from strata_common.config import ConfigError, read_var
from strata_common.processes import pid_alive
from strata_common.queues import CONTROL, SERVICES, ping_task


@dataclass(frozen=True)
class Check:
    component: str
    up: bool
    detail: str


def _http(component: str, url: str) -> Check:
    try:
        response = requests.get(url, timeout=3)
    except requests.RequestException as err:
        return Check(component, False, f"{url}: {type(err).__name__}")
    return Check(component, response.ok, f"{url}: HTTP {response.status_code}")


def _ping_workers(database_url: str, redis_url: str, timeout: float) -> list[Check]:
    app = create_celery(CONTROL, redis_url)
    tokens = {service: str(uuid.uuid4()) for service in SERVICES}
    for service, token in tokens.items():
        app.send_task(ping_task(service), args=[token], expires=timeout)
    seen: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, connect_timeout=3, autocommit=True) as conn:
        while len(seen) < len(tokens) and time.monotonic() < deadline:
            rows = conn.execute(
                "SELECT token::text, service, hostname, pid FROM service_pings WHERE token = ANY(%s::uuid[])",
                (list(tokens.values()),),
            ).fetchall()
            seen = {row[1]: {"hostname": row[2], "pid": row[3]} for row in rows}
            time.sleep(0.1)
    return [
        Check(
            service,
            service in seen,
            f"answered from {seen[service]['hostname']} pid {seen[service]['pid']}"
            if service in seen
            else f"no answer on queue {service} in {timeout:.0f}s",
        )
        for service in SERVICES
    ]


def collect(timeout: float = 5.0) -> list[Check]:
    env = dict(os.environ)
    state = read_state(env)
    for key, var in (("database_url", "STRATA_DATABASE_URL"), ("redis_url", "STRATA_REDIS_URL")):
        if not env.get(var) and state.get(key):
            env[var] = state[key]
    checks: list[Check] = []
    database_url = redis_url = None
    try:
        database_url = read_var("database_url", env)
        with psycopg.connect(database_url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        checks.append(Check("postgres", True, "accepting connections"))
    except (ConfigError, psycopg.Error) as err:
        database_url = None
        checks.append(Check("postgres", False, str(err).splitlines()[0]))
    try:
        redis_url = read_var("redis_url", env)
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
        checks.append(Check("redis", True, "answers PING"))
    except (ConfigError, redis.RedisError) as err:
        redis_url = None
        checks.append(Check("redis", False, str(err)))
    host, api_port, flower_port = (read_var(k, env) for k in ("api_host", "api_port", "flower_port"))
    checks.append(_http("api", f"{state.get('api_url') or f'http://{host}:{api_port}'}/readyz"))
    checks.append(_http("flower", f"{state.get('flower_url') or f'http://{host}:{flower_port}'}/healthcheck"))
    if database_url and redis_url:
        checks.extend(_ping_workers(database_url, redis_url, timeout))
    else:
        checks.extend(Check(s, False, "needs postgres and redis") for s in SERVICES)
    beat_pid = state.get("components", {}).get("beat")
    checks.append(Check("beat", pid_alive(beat_pid), f"pid {beat_pid}" if beat_pid else "not started by strata up"))
    return checks


def run_status() -> int:
    checks = collect()
    width = max(len(c.component) for c in checks)
    for check in checks:
        print(f"{check.component:<{width}}  {'up' if check.up else 'down':<4}  {check.detail}")
    return 0 if all(c.up for c in checks) else 1
