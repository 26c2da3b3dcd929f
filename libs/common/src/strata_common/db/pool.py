"""The process-wide psycopg 3 connection pool."""

from __future__ import annotations

import threading

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from strata_common.config import Settings
from strata_common.db.types import DbPool

_pools: dict[tuple[str, bool], DbPool] = {}
_lock = threading.Lock()


def open_pool(database_url: str, max_size: int = 4, name: str = "strata", autocommit: bool = False) -> DbPool:
    """A new pool whose connections return rows as dicts."""
    pool: DbPool = ConnectionPool(
        database_url,
        min_size=1,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": autocommit},
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
