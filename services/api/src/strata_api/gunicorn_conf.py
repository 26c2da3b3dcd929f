"""Gunicorn hooks: a stopping worker ends its open event streams at once instead of waiting them out,
and a worker that is gone leaves the metrics' live gauges."""

import signal

from strata_common.metrics.exposition import mark_process_dead
from strata_common.notify import close_all


def post_worker_init(worker) -> None:
    previous = signal.getsignal(signal.SIGTERM)

    def stop(signum, frame):
        close_all()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, stop)


def child_exit(server, worker) -> None:
    mark_process_dead(worker.pid)
