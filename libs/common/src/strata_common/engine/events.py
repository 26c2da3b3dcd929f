"""The append-only event stream of a cluster, numbered per cluster in commit order."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from strata_common.db.types import DbConnection

CHANNEL = "strata_events"  # NOTIFY channel; the payload is the cluster id
LEVELS = ("info", "warning", "error")


def append_event(
    conn: DbConnection,
    cluster_id: UUID,
    level: str,
    source: str,
    reason: str,
    message: str,
    data: dict[str, Any] | None = None,
    step_id: int | None = None,
) -> int:
    """Append an event in the caller's transaction and return its number.

    Taking the next number locks the cluster row until commit, so a cluster's events commit in
    number order and a reader paging by number never skips one. NOTIFY is sent on commit.
    """
    if level not in LEVELS:
        raise ValueError(f"event level must be one of {LEVELS}")
    row = conn.execute(
        """
        WITH next AS (
            UPDATE clusters SET event_seq = event_seq + 1 WHERE id = %(c)s RETURNING event_seq
        ), added AS (
            INSERT INTO events (cluster_id, seq, level, source, reason, message, data, step_id)
            SELECT %(c)s, event_seq, %(level)s, %(source)s, %(reason)s, %(message)s, %(data)s, %(step)s FROM next
            RETURNING seq
        )
        SELECT seq, pg_notify(%(channel)s, %(c)s::text) FROM added
        """,
        {
            "c": cluster_id,
            "level": level,
            "source": source,
            "reason": reason,
            "message": message,
            "data": Jsonb(data or {}),
            "step": step_id,
            "channel": CHANNEL,
        },
    ).fetchone()
    if row is None:
        raise LookupError(f"cluster {cluster_id} does not exist")
    return row["seq"]


def list_events(
    conn: DbConnection, cluster_id: UUID, after: int = 0, limit: int = 100, newest: bool = False
) -> list[dict[str, Any]]:
    """Events numbered above `after` (the first `limit`, or with `newest` the last), oldest first, shaped
    as the API shows them."""
    rows = conn.execute(
        "SELECT * FROM (SELECT seq, at, level, source, reason, message, data, step_id FROM events"
        f" WHERE cluster_id = %s AND seq > %s ORDER BY seq {'DESC' if newest else ''} LIMIT %s) e ORDER BY seq",
        (cluster_id, after, limit),
    ).fetchall()
    return [
        {
            "id": r["seq"],
            "time": r["at"].isoformat(),
            "level": r["level"],
            "source": r["source"],
            "reason": r["reason"],
            "message": r["message"],
            "data": r["data"],
            "stepId": r["step_id"],
        }
        for r in rows
    ]
