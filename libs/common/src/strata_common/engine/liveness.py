"""A worker process's liveness as PostgreSQL sees it. While it runs steps, the process holds a session
advisory lock (class OWNER_CLASS, key = its owner number) on a connection of its own, and every step
it claims names that number. A SIGKILLed process's connection closes with it, so the lock is gone at
once: the re-drive hands its running steps on (ORPHANED_STEPS) instead of waiting out their leases.

A server restart also drops every lock; for RESTART_GRACE seconds after one, the re-drive trusts
leases only, while live processes take their locks again (each checks its connection every
CHECK_SECONDS). A failover to a standby whose server started earlier has no such guard: steps that
were running then may run again alongside their first run, whose finish the claim token then refuses.
"""

from __future__ import annotations

import logging
import os
import random
import threading

import psycopg

log = logging.getLogger(__name__)
OWNER_CLASS = 0x5374  # the first key of Strata's owner locks (two-key advisory locks)
CHECK_SECONDS = 2.0
RESTART_GRACE = 15.0

# Running steps whose owner no longer holds its lock, their leases ended now (a claim then takes them).
ORPHANED_STEPS = """
UPDATE steps s SET lease_until = now() - interval '1 millisecond', wake_at = now()
WHERE s.status = 'running' AND s.owner IS NOT NULL AND s.lease_until > now()
  AND pg_postmaster_start_time() < now() - make_interval(secs => %(grace)s)
  AND NOT EXISTS (
      SELECT 1 FROM pg_locks l
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = %(class)s::oid AND l.objid = s.owner::oid)
RETURNING s.id
"""


class Liveness:
    """This process's owner number, backed by its lock (taken again after the connection broke)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = 0
        self._conn: psycopg.Connection | None = None
        self._owner = 0
        self._url = ""

    def owner(self, database_url: str) -> int:
        """The number to claim steps under; the lock behind it is held when this returns."""
        with self._lock:
            if self._pid != os.getpid() or self._conn is None or self._conn.closed:
                self._take(database_url)
            return self._owner

    def check(self) -> None:
        """Take the lock again if its connection broke (a server restart); a no-op before the first claim."""
        with self._lock:
            if not self._url or self._pid != os.getpid():
                return
            try:
                if self._conn is not None:
                    self._conn.execute("SELECT 1")
                    return
            except psycopg.OperationalError:
                pass
            self._take(self._url)

    def _take(self, database_url: str) -> None:
        """(Re)connect and lock. A forked child gets a number of its own and leaves its parent's
        connection alone (closing it would end the parent's session)."""
        same_process = self._pid == os.getpid()
        if self._conn is not None and same_process:
            self._conn.close()
        self._url, self._pid, self._conn = database_url, os.getpid(), None
        conn = psycopg.connect(database_url, autocommit=True)
        owner = self._owner if same_process and self._owner else random.randint(1, 2**31 - 1)
        while not _try_lock(conn, owner):
            owner = random.randint(1, 2**31 - 1)  # another process holds this number
        self._conn, self._owner = conn, owner


def _try_lock(conn: psycopg.Connection, owner: int) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s::int, %s::int)", (OWNER_CLASS, owner)).fetchone()
    return bool(row and row[0])
