"""Wakes waiters when a cluster has news on a NOTIFY channel (new events, Kubernetes object changes):
one LISTEN connection per process and channel."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable

import psycopg

log = logging.getLogger(__name__)

_notifiers: weakref.WeakSet[Notifier] = weakref.WeakSet()


def close_all() -> None:
    """End every open stream of this process (the worker is shutting down)."""
    for notifier in list(_notifiers):
        notifier.close()


class Notifier:
    """Counts NOTIFYs per cluster; streams wait for the count to move instead of polling. `on_news`, if
    given, hears each cluster's news as it comes, and None after a reconnect (news may have been missed)."""

    def __init__(self, database_url: str, channel: str, on_news: Callable[[str | None], None] | None = None):
        self.database_url = database_url
        self.channel = channel
        self.on_news = on_news
        self._cond = threading.Condition()
        self._versions: defaultdict[str, int] = defaultdict(int)
        self._epoch = 0  # bumped on reconnect: notifications may have been missed, everyone re-reads
        self._thread: threading.Thread | None = None
        self.closed = False
        _notifiers.add(self)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def version(self, cluster_id: str) -> tuple[int, int]:
        self._ensure_started()
        with self._cond:
            return (self._epoch, self._versions[cluster_id])

    def wait(self, cluster_id: str, seen: tuple[int, int], timeout: float) -> bool:
        """Block until the cluster has news after `seen`, `timeout` passes or we close; True unless timed out."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self.closed or (self._epoch, self._versions[cluster_id]) != seen, timeout
            )

    def start(self) -> None:
        """Listen from now on (otherwise the first `version` starts listening)."""
        self._ensure_started()

    def _ensure_started(self) -> None:
        with self._cond:
            if self._thread is None:
                name = f"notifier-{self.channel}"
                self._thread = threading.Thread(target=self._listen_forever, name=name, daemon=True)
                self._thread.start()

    def _listen_forever(self) -> None:
        while True:
            try:
                with psycopg.connect(self.database_url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    with self._cond:
                        self._epoch += 1
                        self._cond.notify_all()
                    if self.on_news:
                        self.on_news(None)
                    for note in conn.notifies():
                        with self._cond:
                            self._versions[note.payload] += 1
                            self._cond.notify_all()
                        if self.on_news:
                            self.on_news(note.payload)
            except Exception as err:
                log.warning("%s listener lost its connection (%s); reconnecting", self.channel, err)
                time.sleep(1)
