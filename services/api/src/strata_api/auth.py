"""Bearer-token authentication of every /v1 call; the principal carries its project and role.

A token's principal is remembered for CACHE_SECONDS per process (never past its expiry), so a revoked
token stops working within that time; at once in the process that revoked it.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from uuid import UUID

from flask import Flask, g, request

from strata_api.errors import ApiError
from strata_api.http import db
from strata_common.db.tokens import Principal, authenticate, hash_token

CACHE_SECONDS = 10.0
_cache: dict[str, tuple[Principal, float]] = {}
_cache_lock = threading.Lock()


def _principal_of(token: str) -> Principal | None:
    key, now = hash_token(token), time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit and hit[1] > now:
        return hit[0]
    found = authenticate(db(), token)
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


def register_auth(app: Flask) -> None:
    @app.before_request
    def require_token() -> None:
        if not request.path.startswith("/v1/"):
            return
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthenticated", "send Authorization: Bearer <token> (see `strata token create`)")
        found = _principal_of(token.strip())
        if found is None:
            raise ApiError(401, "unauthenticated", "the token is unknown or revoked")
        g.principal = found
