"""A real Celery worker process consumes a task from real Redis and writes to real PostgreSQL."""

import uuid

import psycopg

from helpers import STRATA, wait_until
from strata_common.celery_app import create_celery
from strata_common.queues import CONTROL, SERVICES, ping_task


def test_each_worker_service_consumes_its_queue_and_writes_a_row(strata_env, processes, database_url, redis_url):
    for service in SERVICES:
        processes.start(service, [*STRATA, "serve", service], strata_env)
    app = create_celery(CONTROL, redis_url)
    tokens = {service: str(uuid.uuid4()) for service in SERVICES}
    for service, token in tokens.items():
        app.send_task(ping_task(service), args=[token])

    def rows():
        with psycopg.connect(database_url) as conn:
            return conn.execute("SELECT token::text, service FROM service_pings").fetchall()

    found = wait_until(lambda: len(rows()) == 3 and rows(), timeout=60, message="three ping rows")
    assert {token: service for token, service in found} == {t: s for s, t in tokens.items()}
