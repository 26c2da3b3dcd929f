"""A cluster's management agent in the database: its tokens (shown once, stored as sha256, each good for
its one cluster until it expires or is revoked) and its last report."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from strata_common.db.tokens import hash_token
from strata_common.db.types import DbConnection, one

AGENT_TOKEN_PREFIX = "strata_agent_"
ROTATION_GRACE_SECONDS = 300  # a rotated token still works this long: the agent's requests in flight land


@dataclass(frozen=True)
class AgentPrincipal:
    """A cluster's agent: the API keeps its token on the agent API, and the agent API on its cluster."""

    cluster_id: UUID
    token_id: UUID
    expires_at: datetime
    role: str = "agent"

    def can(self, role: str) -> bool:
        return True  # no user role applies: the agent API checks the agent's cluster instead


def is_agent_token(token: str) -> bool:
    return token.startswith(AGENT_TOKEN_PREFIX)


def issue_agent_token(conn: DbConnection, cluster_id: UUID, seconds: float) -> tuple[str, datetime]:
    """A new token for the cluster's agent, good for `seconds`: (token, expiry); the only time it is visible."""
    token = AGENT_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        "INSERT INTO agent_tokens (cluster_id, token_hash, expires_at)"
        " VALUES (%s, %s, now() + make_interval(secs => %s)) RETURNING expires_at",
        (cluster_id, hash_token(token), seconds),
    ).fetchone()
    return token, one(row)["expires_at"]


def authenticate_agent(conn: DbConnection, token: str) -> AgentPrincipal | None:
    """The agent a live token (not revoked, not expired, of a cluster not deleted) belongs to."""
    row = conn.execute(
        "SELECT t.id, t.cluster_id, t.expires_at FROM agent_tokens t JOIN clusters c ON c.id = t.cluster_id"
        " WHERE t.token_hash = %s AND t.revoked_at IS NULL AND t.expires_at > now() AND c.deleted_at IS NULL",
        (hash_token(token),),
    ).fetchone()
    return AgentPrincipal(row["cluster_id"], row["id"], row["expires_at"]) if row else None


def rotate_agent_token(conn: DbConnection, agent: AgentPrincipal, seconds: float) -> tuple[str, datetime]:
    """A new token for the agent; the one it rotates ends ROTATION_GRACE_SECONDS from now (if not sooner)."""
    conn.execute(
        "UPDATE agent_tokens SET expires_at = least(expires_at, now() + make_interval(secs => %s)) WHERE id = %s",
        (ROTATION_GRACE_SECONDS, agent.token_id),
    )
    return issue_agent_token(conn, agent.cluster_id, seconds)


def revoke_agent_tokens(conn: DbConnection, cluster_id: UUID) -> int:
    """Revoke every live token of the cluster's agent; how many there were."""
    return conn.execute(
        "UPDATE agent_tokens SET revoked_at = now() WHERE cluster_id = %s AND revoked_at IS NULL",
        (cluster_id,),
    ).rowcount


def agent_presence(conn: DbConnection, cluster_id: UUID) -> tuple[bool, bool]:
    """(the cluster's agent has reported: it is installed and keeps its own pack, it has a live token)."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM agent_reports WHERE cluster_id = %(c)s) AS reported,"
        " EXISTS (SELECT 1 FROM agent_tokens WHERE cluster_id = %(c)s AND revoked_at IS NULL"
        " AND expires_at > now()) AS token",
        {"c": cluster_id},
    ).fetchone()
    return one(row)["reported"], one(row)["token"]


def forget_agent(conn: DbConnection, cluster_id: UUID) -> None:
    """The cluster's agent is removed (push mode again): its tokens revoked, its report and condition gone."""
    revoke_agent_tokens(conn, cluster_id)
    conn.execute("DELETE FROM agent_reports WHERE cluster_id = %s", (cluster_id,))
    conn.execute("DELETE FROM conditions WHERE cluster_id = %s AND type = 'AgentConnected'", (cluster_id,))


def record_report(conn: DbConnection, cluster_id: UUID, generation: int, report: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO agent_reports (cluster_id, generation, report) VALUES (%s, %s, %s)"
        " ON CONFLICT (cluster_id) DO UPDATE SET generation = EXCLUDED.generation, report = EXCLUDED.report,"
        " reported_at = now()",
        (cluster_id, generation, Jsonb(report)),
    )


def last_report(conn: DbConnection, cluster_id: UUID) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT generation, report, reported_at FROM agent_reports WHERE cluster_id = %s", (cluster_id,)
    ).fetchone()


# Pull-mode clusters whose agent has been silent longer than their agentTimeout and that do not show it
# yet: AgentConnected turns False (one statement: of two passes at once, one updates each row).
SILENT_AGENTS = """
WITH silent AS (
    SELECT c.id, c.generation, r.reported_at FROM agent_reports r JOIN clusters c ON c.id = r.cluster_id
    WHERE c.deleted_at IS NULL AND c.phase <> 'Deleting' AND c.spec -> 'management' ->> 'mode' = 'pull'
      AND r.reported_at < now() - make_interval(secs => (c.spec -> 'management' ->> 'agentTimeout')::float)
      AND NOT EXISTS (SELECT 1 FROM conditions k WHERE k.cluster_id = c.id AND k.type = 'AgentConnected'
                      AND k.status = 'False'))
INSERT INTO conditions AS k (cluster_id, type, status, reason, message, observed_generation)
SELECT id, 'AgentConnected', 'False', 'AgentSilent',
       'no report from the agent since ' || to_char(reported_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       generation FROM silent
ON CONFLICT (cluster_id, type) DO UPDATE SET status = EXCLUDED.status, reason = EXCLUDED.reason,
    message = EXCLUDED.message, error_class = NULL, last_transition_time = now(), updated_at = now(),
    observed_generation = greatest(k.observed_generation, EXCLUDED.observed_generation)
WHERE k.status <> 'False'
RETURNING k.cluster_id, k.message
"""


def mark_silent_agents(conn: DbConnection) -> list[dict[str, Any]]:
    """AgentConnected False for every pull-mode cluster whose agent is silent past its timeout; which."""
    return conn.execute(SILENT_AGENTS).fetchall()


def mark_reporting(conn: DbConnection, cluster_id: UUID, generation: int) -> bool:
    """AgentConnected True after a report (a write only when it was not); whether it turned True."""
    row = conn.execute(
        "SELECT c.generation, k.status FROM clusters c LEFT JOIN conditions k ON k.cluster_id = c.id"
        " AND k.type = 'AgentConnected' WHERE c.id = %s",
        (cluster_id,),
    ).fetchone()
    if row is None or row["status"] == "True":
        return False
    conn.execute(
        "INSERT INTO conditions AS k (cluster_id, type, status, reason, message, observed_generation)"
        " VALUES (%s, 'AgentConnected', 'True', 'Reporting', %s, %s) ON CONFLICT (cluster_id, type) DO UPDATE SET"
        " status = 'True', reason = 'Reporting', message = EXCLUDED.message, error_class = NULL,"
        " last_transition_time = now(), updated_at = now(),"
        " observed_generation = greatest(k.observed_generation, EXCLUDED.observed_generation)",
        (cluster_id, f"the agent reports (it applied generation {generation})", row["generation"]),
    )
    return True
