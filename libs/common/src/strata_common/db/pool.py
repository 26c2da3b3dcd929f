"""The process-wide psycopg 3 connection pool. A connection that has sat idle is checked before it is
handed out, so a restarted or failed-over server costs no request a dead connection."""

from __future__ import annotations

import threading
import time
import weakref

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from strata_common.config import Settings
from strata_common.db.types import DbConnection, DbPool

_pools: dict[tuple[str, bool], DbPool] = {}
_lock = threading.Lock()
# Busy connections are drawn again within milliseconds and are not checked; a server restart takes
# longer than this, so every connection it killed was last drawn at least this long ago.
IDLE_CHECK_SECONDS = 0.25
_drawn: weakref.WeakKeyDictionary[DbConnection, float] = weakref.WeakKeyDictionary()


def _check_if_idle(conn: DbConnection) -> None:
    """Raise if a connection last drawn a while ago no longer works (the pool then discards it and draws
    another). The time since it was last drawn, not returned: a `reset` callback to note returns makes the
    pool hand every returned connection to its worker thread (a third of the API's CPU under load)."""
    now = time.monotonic()
    if now - _drawn.get(conn, 0.0) > IDLE_CHECK_SECONDS:
        ConnectionPool.check_connection(conn)
    _drawn[conn] = now


def open_pool(database_url: str, max_size: int = 4, name: str = "strata", autocommit: bool = False) -> DbPool:
    """A new pool whose connections return rows as dicts."""
    pool: DbPool = ConnectionPool(
        database_url,
        min_size=1,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": autocommit},
        check=_check_if_idle,
        name=name,
        open=False,
    )
    pool.open(wait=False)
    return pool


def get_pool(settings: Settings, autocommit: bool = False) -> DbPool:
    """The shared pool of this process for the configured database (created on first use).

    Connections of the default pool commit when `with pool.connection()` ends; those of the
    autocommit pool run each statement on its own unless the caller opens `conn.transaction()`.
    """
    key = (settings.database_url, autocommit)
    with _lock:
        pool = _pools.get(key)
        if pool is None:
            pool = open_pool(
                settings.database_url, settings.db_pool_max, f"strata-{'ac' if autocommit else 'tx'}", autocommit
            )
            _pools[key] = pool
        return pool


def close_pools() -> None:
    """Close every pool of this process (at shutdown, or after fork)."""
    with _lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()
