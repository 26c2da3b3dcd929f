"""The process-wide psycopg 3 connection pool."""

from __future__ import annotations

import threading

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from strata_common.config import Settings

_pools: dict[str, ConnectionPool] = {}
_lock = threading.Lock()


def open_pool(database_url: str, max_size: int = 4, name: str = "strata") -> ConnectionPool:
    """A new pool whose connections return rows as dicts."""
    pool = ConnectionPool(
        database_url,
        min_size=1,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": False},
        name=name,
        open=False,
    )
    pool.open(wait=False)
    return pool


def get_pool(settings: Settings) -> ConnectionPool:
    """The shared pool of this process for the configured database (created on first use)."""
    with _lock:
        pool = _pools.get(settings.database_url)
        if pool is None:
            pool = open_pool(settings.database_url, settings.db_pool_max)
            _pools[settings.database_url] = pool
        return pool


def close_pools() -> None:
    """Close every pool of this process (at shutdown, or after fork)."""
    with _lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()
