"""API benchmark: GET /v1/clusters/{id} (auth, database, conditions) vs a bare Flask JSON endpoint, and
the console's fleet page (GET /ui/: its session, then whoami, clusters, updates and accounts through the
API in-process, rendered by Jinja).

Both run under the same gunicorn settings (STRATA_API_WORKERS, STRATA_API_THREADS); wrk drives 32
concurrent connections at each for BENCH_SECONDS (default 15), against PostgreSQL and Redis from
bench/harness.py. Prints requests/s, p50 and p99 latency, and the ratio; asserts nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import requests
from harness import bench_env
from psycopg.rows import dict_row

from strata_cli.embedded import free_port
from strata_cli.serve import command_for
from strata_common.config import load_settings
from strata_common.db.tokens import create_token

HERE = Path(__file__).resolve().parent
SECONDS = int(os.environ.get("BENCH_SECONDS", "15"))
CONNECTIONS = 32


def wait_http(url: str, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(url, headers=headers, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer")
        time.sleep(0.2)


def wrk(url: str, headers: dict[str, str]) -> dict[str, float]:
    args = ["wrk", "-t", "4", "-c", str(CONNECTIONS), "-d", f"{SECONDS}s", "--latency", url]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", out)[1]),
        "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", out)[1]),
        "errors": int(errors[1]) if errors else 0,
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def serve(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("bench/api.py needs wrk (Debian package wrk; `make bench` installs it)")
    with bench_env() as base:
        run(base)


def run(base: dict[str, str]) -> None:
    database_url = base["STRATA_DATABASE_URL"]
    api_port, bare_port = free_port(), free_port()
    env = {**base, "STRATA_API_PORT": str(api_port)}
    settings = load_settings(env)
    api_argv, _ = command_for("api", settings)
    api_argv = [a for a in api_argv if a not in ("--access-logfile", "-")]
    bare_argv = [
        a.replace("strata_api.wsgi:app", "bare_app:app").replace(str(api_port), str(bare_port)) for a in api_argv
    ]
    bare_argv = [a for a in bare_argv if a not in ("--config", "python:strata_api.gunicorn_conf")]
    processes = [serve(api_argv, env), serve(bare_argv, env)]
    try:
        with psycopg.connect(database_url, row_factory=dict_row) as conn:
            token = create_token(conn, "bench", "viewer")
            project = conn.execute("SELECT id FROM projects WHERE name = 'bench'").fetchone()["id"]
            cluster = conn.execute(
                "INSERT INTO clusters (project_id, name, spec, phase)"
                " VALUES (%s, 'demo', %s, 'Provisioning') RETURNING id",
                (project, psycopg.types.json.Jsonb({"profile": {"id": str(uuid.uuid4()), "revision": 1},
                 "cloudAccount": str(uuid.uuid4()), "cloud": {"region": "local-1"}, "pools": []})),
            ).fetchone()["id"]  # fmt: skip
            conn.execute(
                "INSERT INTO conditions (cluster_id, type, status, reason, message, observed_generation)"
                " VALUES (%s, 'Ready', 'Unknown', 'Reconciling', 'generation 1', 1)",
                (cluster,),
            )
        auth = {"Authorization": f"Bearer {token}"}
        api_url = f"http://127.0.0.1:{api_port}/v1/clusters/{cluster}"
        bare_url = f"http://127.0.0.1:{bare_port}/v1/clusters/{cluster}"
        wait_http(api_url, auth)
        wait_http(bare_url, {})
        wrk(api_url, auth)  # warm-up pass of the same length
        print(f"machine: {os.cpu_count()} cores; gunicorn {settings.api_workers} workers x {settings.api_threads} "
              f"threads (gthread); wrk {CONNECTIONS} connections, {SECONDS}s each")  # fmt: skip
        strata = wrk(api_url, auth)
        bare = wrk(bare_url, {})
        signed_in = requests.post(f"http://127.0.0.1:{api_port}/ui/signin", data={"token": token},
                                  allow_redirects=False, timeout=10)  # fmt: skip
        console = {"Cookie": f"strata_console={signed_in.cookies['strata_console']}"}
        fleet = wrk(f"http://127.0.0.1:{api_port}/ui/", console)
        for label, r in (("GET /v1/clusters/{id} (Strata)", strata), ("bare Flask JSON endpoint     ", bare),
                         ("GET /ui/ (the console's fleet)", fleet)):  # fmt: skip
            print(
                f"{label}: {r['rps']:8.1f} req/s  p50 {r['p50']:6.2f} ms  p99 {r['p99']:7.2f} ms  non-2xx {r['errors']}"
            )
        print(f"ratio Strata/bare: {strata['rps'] / bare['rps']:.2f}  (target >= 0.5)")
    finally:
        for proc in processes:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
