"""The agent's side of the agent API: its cluster's desired state (ETag: 304 while unchanged), its
reports, its token's rotation. The control plane may be unreachable: that is an `Unreachable`, which
the agent outlasts."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import urllib3


class Unreachable(Exception):
    """The control plane did not answer, or answered with an error the agent cannot act on."""


class ControlPlane:
    def __init__(self, url: str, cluster_id: str, token: str, ca_file: str | None = None, timeout: float = 10.0):
        self.base = f"{url.rstrip('/')}/v1/agent/clusters/{cluster_id}"
        self.token = token
        options: dict[str, Any] = {"ca_certs": ca_file} if ca_file else {}
        self.http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5.0, read=timeout), retries=False, **options)

    def _call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
              read_timeout: float | None = None):  # fmt: skip
        sent = {"Authorization": f"Bearer {self.token}", "Accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data, sent["Content-Type"] = json.dumps(body).encode(), "application/json"
        try:
            timeout = urllib3.Timeout(connect=5.0, read=read_timeout) if read_timeout else None
            response = self.http.request(method, self.base + path, body=data, headers=sent,
                                         **({"timeout": timeout} if timeout else {}))  # fmt: skip
        except urllib3.exceptions.HTTPError as err:
            raise Unreachable(f"{method} {path}: {err}") from None
        if response.status >= 400:
            raise Unreachable(f"{method} {path}: {response.status} {response.data[:300].decode(errors='replace')}")
        return response

    def desired(self, etag: str | None, wait: float = 0.0) -> tuple[str | None, dict[str, Any] | None]:
        """(ETag, the desired state), or (the same ETag, None) while it has not changed; `wait`: the
        control plane may hold the answer that long for a change (a long poll)."""
        path = f"/desired?wait={wait:g}" if wait and etag else "/desired"
        response = self._call("GET", path, headers={"If-None-Match": etag} if etag else None,
                              read_timeout=wait + 10 if wait and etag else None)  # fmt: skip
        if response.status == 304:
            return etag, None
        return response.headers.get("ETag"), json.loads(response.data)

    def report(self, report: dict[str, Any]) -> None:
        self._call("POST", "/status", report)

    def rotate(self) -> datetime:
        """A new token, kept for the next calls; its expiry."""
        answer = json.loads(self._call("POST", "/token").data)
        self.token = answer["token"]
        return datetime.fromisoformat(answer["expiresAt"])
