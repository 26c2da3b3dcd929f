"""Gunicorn hooks: a stopping worker ends its open event streams at once instead of waiting them out."""

import signal

from strata_common.notify import close_all


def post_worker_init(worker) -> None:
    previous = signal.getsignal(signal.SIGTERM)

    def stop(signum, frame):
        close_all()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, stop)
