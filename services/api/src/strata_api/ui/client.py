"""The console is a client of the API: its pages read and change through the API's own endpoints, called
in-process with the signed-in token, so roles, validation and the 4xx bodies are the API's own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app, request
from werkzeug.test import Client


@dataclass
class ApiFailure(Exception):
    """A 4xx or 5xx answer of the API: shown in the page as the API said it."""

    status: int
    code: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


class Api:
    """Calls of one signed-in person (their token) for the page being rendered."""

    def __init__(self, token: str):
        self._token = token
        self._client = Client(current_app)

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """The answer's JSON (None for an empty body), or ApiFailure with the API's error."""
        answer = self._client.open(
            f"/v1{path}", method=method, json=body, query_string={k: v for k, v in params.items() if v is not None},
            headers={"Authorization": f"Bearer {self._token}"},
            environ_base={"REMOTE_ADDR": request.remote_addr or "", "wsgi.url_scheme": request.scheme},
        )  # fmt: skip
        payload = answer.get_json(silent=True) if answer.data else None
        if answer.status_code >= 400:
            error = (payload or {}).get("error", {})
            raise ApiFailure(answer.status_code, error.get("code", "error"), error.get("message", answer.status),
                             error.get("fields") or {})  # fmt: skip
        return payload

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, **params)
