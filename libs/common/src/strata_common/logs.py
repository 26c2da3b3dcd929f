"""Logging set-up shared by every Strata process."""

from __future__ import annotations

import logging
import threading
import time

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str) -> None:
    """Log to stderr at `level` in one format for all processes."""
    logging.basicConfig(level=level, format=FORMAT, force=True)
    # psycopg_pool warns at every failed reconnection; an outage is reported once by `OutageWarning`
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)


class OutageWarning:
    """A warning about a backing service being unavailable, logged at most once a minute per process."""

    def __init__(self, logger: logging.Logger, every: float = 60.0):
        self.logger, self.every = logger, every
        self._last = -every
        self._lock = threading.Lock()

    def __call__(self, message: str, err: BaseException) -> None:
        with self._lock:
            if time.monotonic() - self._last < self.every:
                return
            self._last = time.monotonic()
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        self.logger.warning("%s (%s)", message, first_line)
