"""Logging set-up shared by every Strata process: one line per record, as text or (STRATA_LOG_FORMAT=json)
as a JSON object that carries the cluster id and step name of the step being run, where there is one."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_CONTEXT: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("strata_log_context", default=())


@contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Fields every record logged inside carries (in the JSON format)."""
    token = LOG_CONTEXT.set(tuple({**dict(LOG_CONTEXT.get()), **fields}.items()))
    try:
        yield
    finally:
        LOG_CONTEXT.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the log context, the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage(), **dict(LOG_CONTEXT.get())}  # fmt: skip
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(level: str, fmt: str = "text") -> None:
    """Log to stderr at `level` in one format for all processes (`fmt`: text or json)."""
    logging.basicConfig(level=level, format=FORMAT, force=True)
    if fmt == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    # psycopg_pool warns at every failed reconnection; an outage is reported once by `OutageWarning`
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    # a line per task received and per task done is Flower's job, not the logs'
    for chatty in ("celery.worker.strategy", "celery.app.trace"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))


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
