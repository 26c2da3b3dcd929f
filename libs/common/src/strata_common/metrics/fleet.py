"""The fleet's gauges, read from PostgreSQL and Redis when scraped (the API serves them): clusters by
phase, unfinished steps by status, the age of the oldest ready step, and each queue's waiting
messages. One reading is kept a few seconds, so several API workers and scrapers cost one query."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import psycopg
import redis
from prometheus_client.core import GaugeMetricFamily, Metric

from strata_common.config import Settings
from strata_common.db.pool import get_pool
from strata_common.queues import QUEUES

log = logging.getLogger(__name__)
CACHE_SECONDS = 5.0
UNFINISHED = ("pending", "ready", "running", "failed")
READING = """
SELECT
  (SELECT coalesce(json_object_agg(phase, n), '{}') FROM
     (SELECT phase, count(*) AS n FROM clusters WHERE deleted_at IS NULL GROUP BY phase) p) AS phases,
  (SELECT coalesce(json_object_agg(status, n), '{}') FROM
     (SELECT status, count(*) AS n FROM steps WHERE status = ANY(%s) GROUP BY status) s) AS steps,
  (SELECT coalesce(extract(epoch FROM now() - min(idle_since)), 0) FROM steps WHERE status = 'ready') AS oldest
"""


class FleetCollector:
    """A prometheus_client collector of the fleet's gauges."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._read_at = -CACHE_SECONDS
        self._metrics: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if time.monotonic() - self._read_at >= CACHE_SECONDS:
                try:
                    self._metrics = self._read()
                except (psycopg.Error, redis.RedisError) as err:  # the scrape still answers, without the fleet
                    log.warning("fleet gauges unavailable: %s", err)
                    self._metrics = []
                self._read_at = time.monotonic()
            return iter(self._metrics)

    def _read(self) -> list[Metric]:
        with get_pool(self.settings).connection(timeout=5) as conn:
            row = conn.execute(READING, (list(UNFINISHED),)).fetchone()
        assert row is not None
        clusters = GaugeMetricFamily("strata_clusters", "Clusters (not deleted) by phase", labels=["phase"])
        for phase, count in sorted(row["phases"].items()):
            clusters.add_metric([phase], count)
        steps = GaugeMetricFamily("strata_steps", "Unfinished steps by status", labels=["status"])
        for status in UNFINISHED:
            steps.add_metric([status], row["steps"].get(status, 0))
        oldest = GaugeMetricFamily(
            "strata_oldest_ready_step_age_seconds", "How long the oldest ready step has waited for a worker"
        )
        oldest.add_metric([], float(row["oldest"]))
        queues = GaugeMetricFamily("strata_queue_messages", "Messages waiting in each Celery queue", labels=["queue"])
        client = redis.Redis.from_url(self.settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
        try:
            for queue in QUEUES:
                queues.add_metric([queue], client.llen(queue))
        finally:
            client.close()
        return [clusters, steps, oldest, queues]
