"""The console's sign-in: the API token sealed in an HttpOnly, SameSite=Strict cookie (Secure over TLS),
with a CSRF token of its own that every form and every cookie-authenticated unsafe API call must carry."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from flask import Response, current_app, request

from strata_common.crypto import SecretBox

COOKIE = "strata_console"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
SESSION_SECONDS = 12 * 3600
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Session:
    token: str
    csrf: str


def _box() -> SecretBox:
    box = current_app.extensions.get("strata_console_box")
    if box is None:
        box = current_app.extensions["strata_console_box"] = SecretBox(
            current_app.config["STRATA_SETTINGS"].secret_key + ":console"
        )
    return box


def current() -> Session | None:
    """This request's console session, if its cookie is one this API sealed and it has not expired."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        opened = _box().open(raw.encode())
    except ValueError:
        return None
    if not isinstance(opened, dict) or opened.get("until", 0) < time.time():
        return None
    return Session(str(opened.get("token", "")), str(opened.get("csrf", "")))


def csrf_matches(session: Session, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf, given or "")


def sign_in(response: Response, token: str) -> None:
    sealed = _box().seal({"token": token, "csrf": secrets.token_urlsafe(24), "until": time.time() + SESSION_SECONDS})
    response.set_cookie(COOKIE, sealed.decode(), max_age=SESSION_SECONDS, path="/", httponly=True,
                        secure=request.is_secure, samesite="Strict")  # fmt: skip


def sign_out(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, secure=request.is_secure, samesite="Strict")
