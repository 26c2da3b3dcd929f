"""Projects and API tokens: a token is shown once, stored as its sha256; it may expire, be revoked, and
(a platform admin's) create projects."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from strata_common.db.types import DbConnection, one

ROLES = ("viewer", "operator", "admin")  # each role can do what the ones before it can
TOKEN_PREFIX = "strata_"


@dataclass(frozen=True)
class Principal:
    project_id: UUID
    project: str
    role: str
    token_id: UUID | None = None
    token_name: str = ""
    platform_admin: bool = False
    expires_at: datetime | None = None

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_project(conn: DbConnection, name: str) -> UUID:
    row = conn.execute(
        "INSERT INTO projects (name) VALUES (%s) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
        (name,),
    ).fetchone()
    return one(row)["id"]


def create_token(conn: DbConnection, project: str, role: str, name: str = "", platform_admin: bool = False,
                 expires_at: datetime | None = None) -> str:  # fmt: skip
    """A new token for `project` (created if missing) with `role`; the only time it is visible."""
    return issue_token(conn, ensure_project(conn, project), role, name, platform_admin, expires_at)[1]


def issue_token(conn: DbConnection, project_id: UUID, role: str, name: str = "", platform_admin: bool = False,
                expires_at: datetime | None = None) -> tuple[dict[str, Any], str]:  # fmt: skip
    """(the token's row, the token): the only time the token is visible."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        "INSERT INTO api_tokens (project_id, role, name, token_hash, platform_admin, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
        (project_id, role, name, hash_token(token), platform_admin, expires_at),
    ).fetchone()
    return one(row), token


def authenticate(conn: DbConnection, token: str) -> Principal | None:
    """The principal of a live token (not revoked, not expired); its last use is recorded at most once a
    minute."""
    row = conn.execute(
        "SELECT t.id, t.project_id, p.name AS project, t.role, t.name, t.platform_admin, t.expires_at,"
        " t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute' AS stale"
        " FROM api_tokens t JOIN projects p ON p.id = t.project_id"
        " WHERE t.token_hash = %s AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())",
        (hash_token(token),),
    ).fetchone()
    if row is None:
        return None
    if row["stale"]:
        conn.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = %s", (row["id"],))
    return Principal(row["project_id"], row["project"], row["role"], row["id"], row["name"], row["platform_admin"],
                     row["expires_at"])  # fmt: skip
