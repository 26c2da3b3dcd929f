"""The API's metrics: each request counted by route template, method and status with its latency,
and /metrics serving every API worker's values with the fleet's gauges (unauthenticated, like
/healthz: it holds counts, never a cluster id or a secret)."""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import Counter, Gauge, Histogram

from strata_common.metrics import exposition
from strata_common.metrics.fleet import FleetCollector

bp = Blueprint("metrics", __name__)
HTTP_REQUESTS = Counter(
    "strata_http_requests_total", "API requests by route template, method and status", ["route", "method", "status"]
)
HTTP_DURATION = Histogram(
    "strata_http_request_duration_seconds",
    "API request latency until the response starts, by route template and method",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENT_STREAMS = Gauge(
    "strata_event_streams_open", "Open Server-Sent Events streams of cluster events", multiprocess_mode="livesum"
)


@bp.get("/metrics")
def metrics() -> Response:
    body, kind = exposition.render([current_app.extensions["strata_fleet"]])
    return Response(body, content_type=kind)


def register_metrics(app: Flask) -> None:
    app.extensions["strata_fleet"] = FleetCollector(app.config["STRATA_SETTINGS"])

    @app.before_request
    def start_clock() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def count(response: Response) -> Response:
        started = g.get("request_started")
        if started is not None:
            route = request.url_rule.rule if request.url_rule else "unmatched"
            HTTP_REQUESTS.labels(route, request.method, str(response.status_code)).inc()
            HTTP_DURATION.labels(route, request.method).observe(time.perf_counter() - started)
        return response
