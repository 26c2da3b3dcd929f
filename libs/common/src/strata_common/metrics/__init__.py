"""Prometheus metrics: the engine's (`engine`), the fleet's gauges (`fleet`) and how every process
serves them (`exposition`). Each service defines its own metrics beside its code; all follow
Prometheus' conventions (base units, `_total` counters, no label with unbounded values such as a
cluster id).

A process started by `strata serve` has PROMETHEUS_MULTIPROC_DIR set before prometheus_client is
imported, so gunicorn's workers and Celery's prefork children each write their own value files and
one scrape of the parent's endpoint sums them."""
