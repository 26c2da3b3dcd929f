"""Administration of the local cloud, for the API and `strata localcloud`: injected faults, request
throttling per action and vCPU quotas per region."""

from __future__ import annotations

from typing import Any

from psycopg import Connection

from strata_localcloud.cloud import ACTIONS

# Bounds of what an admin may set (the API's schemas and the OpenAPI document state them too).
FAULT_MESSAGE_MAX = 500
FAULT_COUNT_MAX = 10_000
RATE_MAX = 10_000.0  # calls per second
BURST_MAX = 100_000.0
DEFAULT_RATE, DEFAULT_BURST = 100.0, 200.0  # every action's bucket as installed


def add_fault(conn: Connection, action: str, code: str, message: str, count: int) -> dict[str, Any]:
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    return conn.execute(
        "INSERT INTO lc_faults (action, code, message, remaining) VALUES (%s, %s, %s, %s) RETURNING *",
        (action, code, message, count),
    ).fetchone()


def list_faults(conn: Connection) -> list[dict[str, Any]]:
    return conn.execute("SELECT * FROM lc_faults WHERE remaining > 0 ORDER BY id").fetchall()


def remove_fault(conn: Connection, fault_id: int) -> bool:
    """Remove a fault still waiting to fire; False when there is none with that id."""
    return conn.execute("DELETE FROM lc_faults WHERE id = %s AND remaining > 0", (fault_id,)).rowcount > 0


def clear_faults(conn: Connection) -> int:
    """Remove every fault; how many were still waiting to fire."""
    return conn.execute("WITH gone AS (DELETE FROM lc_faults RETURNING remaining)"
                        " SELECT count(*) FILTER (WHERE remaining > 0) AS n FROM gone").fetchone()["n"]  # fmt: skip


def list_regions(conn: Connection) -> list[dict[str, Any]]:
    return conn.execute("SELECT name, vcpu_quota, vcpus_used FROM lc_regions ORDER BY name").fetchall()


def list_throttling(conn: Connection) -> list[dict[str, Any]]:
    return conn.execute("SELECT action, rate, burst, calls FROM lc_throttle ORDER BY action").fetchall()


def set_throttling(conn: Connection, action: str, rate: float, burst: float) -> dict[str, Any] | None:
    """Set an action's bucket (full again at once); rate 0 turns its throttling off."""
    return conn.execute(
        "UPDATE lc_throttle SET rate = %s, burst = %s, tokens = %s, refilled_at = clock_timestamp()"
        " WHERE action = %s RETURNING action, rate, burst",
        (rate, burst, burst, action),
    ).fetchone()


def reset_throttling(conn: Connection, action: str) -> dict[str, Any] | None:
    """Put an action's bucket back to the default rate and burst."""
    return set_throttling(conn, action, DEFAULT_RATE, DEFAULT_BURST)


def set_quota(conn: Connection, region: str, vcpus: int) -> dict[str, Any] | None:
    return conn.execute(
        "UPDATE lc_regions SET vcpu_quota = %s WHERE name = %s RETURNING name, vcpu_quota", (vcpus, region)
    ).fetchone()
