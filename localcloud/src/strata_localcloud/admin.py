"""Administration of the local cloud, for the API and `strata localcloud`: injected faults, request
throttling per action and vCPU quotas per region."""

from __future__ import annotations

from typing import Any

from psycopg import Connection

from strata_localcloud.cloud import ACTIONS


def add_fault(conn: Connection, action: str, code: str, message: str, count: int) -> dict[str, Any]:
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    return conn.execute(
        "INSERT INTO lc_faults (action, code, message, remaining) VALUES (%s, %s, %s, %s) RETURNING *",
        (action, code, message, count),
    ).fetchone()


def list_faults(conn: Connection) -> list[dict[str, Any]]:
    return conn.execute("SELECT * FROM lc_faults WHERE remaining > 0 ORDER BY id").fetchall()


def list_regions(conn: Connection) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT r.name, r.vcpu_quota, coalesce(sum((i.spec->>'vcpus')::int), 0)::int AS vcpus_used"
        " FROM lc_regions r LEFT JOIN lc_resources i ON i.region = r.name AND i.kind = 'instance'"
        " AND i.deleted_at IS NULL GROUP BY r.name, r.vcpu_quota ORDER BY r.name"
    ).fetchall()


def list_throttling(conn: Connection) -> list[dict[str, Any]]:
    return conn.execute("SELECT action, rate, burst, calls FROM lc_throttle ORDER BY action").fetchall()


def set_throttling(conn: Connection, action: str, rate: float, burst: float) -> dict[str, Any] | None:
    """Set an action's bucket (full again at once); rate 0 turns its throttling off."""
    return conn.execute(
        "UPDATE lc_throttle SET rate = %s, burst = %s, tokens = %s, refilled_at = clock_timestamp()"
        " WHERE action = %s RETURNING action, rate, burst",
        (rate, burst, burst, action),
    ).fetchone()


def set_quota(conn: Connection, region: str, vcpus: int) -> dict[str, Any] | None:
    return conn.execute(
        "UPDATE lc_regions SET vcpu_quota = %s WHERE name = %s RETURNING name, vcpu_quota", (vcpus, region)
    ).fetchone()
