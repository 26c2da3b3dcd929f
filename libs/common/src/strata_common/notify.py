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
        self._lock = threading.Lock()
        self._versions: defaultdict[str, int] = defaultdict(int)
        self._waiting: defaultdict[str, set[threading.Event]] = defaultdict(set)  # a cluster's news wakes its own
        self._epoch = 0  # bumped on reconnect: notifications may have been missed, everyone re-reads
        self._thread: threading.Thread | None = None
        self.closed = False
        _notifiers.add(self)

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._wake(None)

    def version(self, cluster_id: str) -> tuple[int, int]:
        self._ensure_started()
        with self._lock:
            return (self._epoch, self._versions[cluster_id])

    def wait(self, cluster_id: str, seen: tuple[int, int], timeout: float) -> bool:
        """Block until the cluster has news after `seen`, `timeout` passes or we close; True unless timed out.
        Only the cluster's own news wakes its waiters (hundreds may wait, each on its own cluster)."""
        event = threading.Event()
        with self._lock:
            if self.closed or (self._epoch, self._versions[cluster_id]) != seen:
                return True
            self._waiting[cluster_id].add(event)
        try:
            return event.wait(timeout)
        finally:
            with self._lock:
                waiting = self._waiting.get(cluster_id)
                if waiting is not None:
                    waiting.discard(event)
                    if not waiting:
                        del self._waiting[cluster_id]

    def _wake(self, cluster_id: str | None) -> None:
        """Wake the cluster's waiters (None: everyone's); the caller holds the lock."""
        groups = list(self._waiting.values()) if cluster_id is None else [self._waiting.get(cluster_id, set())]
        for group in groups:
            for event in group:
                event.set()

    def start(self) -> None:
        """Listen from now on (otherwise the first `version` starts listening)."""
        self._ensure_started()

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is None:
                name = f"notifier-{self.channel}"
                self._thread = threading.Thread(target=self._listen_forever, name=name, daemon=True)
                self._thread.start()

    def _listen_forever(self) -> None:
        while True:
            try:
                with psycopg.connect(self.database_url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    with self._lock:
                        self._epoch += 1
                        self._wake(None)
                    if self.on_news:
                        self.on_news(None)
                    for note in conn.notifies():
                        with self._lock:
                            self._versions[note.payload] += 1
                            self._wake(note.payload)
                        if self.on_news:
                            self.on_news(note.payload)
            except Exception as err:
                log.warning("%s listener lost its connection (%s); reconnecting", self.channel, err)
                time.sleep(1)
