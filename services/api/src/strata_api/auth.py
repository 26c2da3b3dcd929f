"""Bearer-token authentication of every /v1 call; the principal carries its project and role.

A token's principal is remembered for CACHE_SECONDS per process (never past its expiry), so a revoked
token stops working within that time; at once in the process that revoked it.

A cluster agent's token (`strata_agent_...`) is good for the agent API (/v1/agent/) of its one cluster
and nothing else (403); a user's token is no good there (403).

The console's sign-in cookie stands for its token where no Authorization header is sent (the console's
live views and /docs' "try it out"); a change made with it must carry the session's CSRF token.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from uuid import UUID

from flask import Flask, g, request

from strata_api.errors import ApiError
from strata_api.http import db
from strata_api.ui import session as console
from strata_common.db.agents import AgentPrincipal, authenticate_agent, is_agent_token
from strata_common.db.tokens import Principal, authenticate, hash_token

CACHE_SECONDS = 10.0
AGENT_API = "/v1/agent/"
_cache: dict[str, tuple[Principal | AgentPrincipal, float]] = {}
_cache_lock = threading.Lock()


def _principal_of(token: str) -> Principal | AgentPrincipal | None:
    key, now = hash_token(token), time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit and hit[1] > now:
        return hit[0]
    found = authenticate_agent(db(), token) if is_agent_token(token) else authenticate(db(), token)
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        if found is not None:
            left = (found.expires_at - datetime.now(UTC)).total_seconds() if found.expires_at else CACHE_SECONDS
            _cache[key] = (found, now + min(CACHE_SECONDS, left))
    return found


def forget_token(token_id: UUID) -> None:
    """Drop a revoked token from this process's cache."""
    with _cache_lock:
        for key in [k for k, (p, _) in _cache.items() if p.token_id == token_id]:
            del _cache[key]


def forget_agent(cluster_id: UUID) -> None:
    """Drop a cluster's agent tokens from this process's cache (they were revoked)."""
    with _cache_lock:
        for key in [k for k, (p, _) in _cache.items() if isinstance(p, AgentPrincipal) and p.cluster_id == cluster_id]:
            del _cache[key]


def register_auth(app: Flask) -> None:
    @app.before_request
    def require_token() -> None:
        if not request.path.startswith("/v1/"):
            return
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if not header and (signed_in := console.current()) is not None:
            token, scheme = signed_in.token, "bearer"
            if request.method not in console.SAFE_METHODS and not console.csrf_matches(
                signed_in, request.headers.get(console.CSRF_HEADER)
            ):
                raise ApiError(403, "csrf", f"a change made with the console's sign-in needs its {console.CSRF_HEADER}")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthenticated", "send Authorization: Bearer <token> (see `strata token create`)")
        found = _principal_of(token.strip())
        if found is None:
            raise ApiError(401, "unauthenticated", "the token is unknown or revoked")
        if isinstance(found, AgentPrincipal) != request.path.startswith(AGENT_API):
            said = "a cluster agent's token is good for the agent API only" if isinstance(found, AgentPrincipal) \
                else "the agent API takes a cluster agent's token"  # fmt: skip
            raise ApiError(403, "forbidden", said)
        g.principal = found
