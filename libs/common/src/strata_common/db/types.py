"""The types of Strata's database handles: every connection returns rows as dicts (dict_row)."""

from __future__ import annotations

from typing import Any

from psycopg import Connection
from psycopg_pool import ConnectionPool

DbConnection = Connection[dict[str, Any]]
DbPool = ConnectionPool[DbConnection]


def one(row: dict[str, Any] | None) -> dict[str, Any]:
    """The row of a statement that always returns one (an aggregate, an upsert's RETURNING, a row a
    foreign key guarantees); its absence is a bug, not a lost race."""
    if row is None:
        raise LookupError("a statement that always returns a row returned none")
    return row


def exists(conn: DbConnection, query: str, params: tuple[Any, ...]) -> bool:
    """Whether `query` (a SELECT ... LIMIT 1) finds a row."""
    return conn.execute(query, params).fetchone() is not None
