"""Helpers of the API tests: tokens straight from the database, and a small HTTP client."""

from __future__ import annotations

from typing import Any

import psycopg
import requests
from psycopg.rows import dict_row

from strata_common.db.tokens import create_token


def make_token(database_url: str, project: str, role: str) -> str:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return create_token(conn, project, role)


class Client:
    """requests against the API with one token; every call returns the response."""

    def __init__(self, base: str, token: str | None):
        self.base = base
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.base}{path}", json=json, timeout=30, **kwargs)

    def cli_env(self, env: dict[str, str]) -> dict[str, str]:
        """`env` for the `strata` CLI talking to this client's API with its token."""
        return {**env, "STRATA_API_URL": self.base, "STRATA_TOKEN": self.session.headers["Authorization"][7:]}

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.call("PUT", path, json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.call("PATCH", path, json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("DELETE", path, **kwargs)


LOCAL_PROFILE = {
    "name": "web",
    "description": "Ubuntu, Kubernetes 1.32, Calico, local-path, Prometheus",
    "layers": [
        {"pack": "ubuntu-22.04", "version": "1.0.0"},
        {"pack": "kubernetes", "version": "1.32.1"},
        {"pack": "calico", "version": "3.28.2", "values": "mtu: 1400\n"},
        {"pack": "local-path", "version": "0.0.30"},
        {"pack": "prometheus", "version": "2.54.1", "values": "retention: 7d\n"},
    ],
}


def cluster_request(profile_id: str, account_id: str, **changes: Any) -> dict[str, Any]:
    body = {
        "name": "demo",
        "profile": {"id": profile_id},
        "cloudAccount": account_id,
        "cloud": {"region": "local-1"},
        "pools": [
            {
                "name": "cp",
                "role": "controlPlane",
                "count": 3,
                "instanceType": "medium",
                "zones": ["local-1a", "local-1b", "local-1c"],
            },
            {
                "name": "workers",
                "role": "worker",
                "count": 3,
                "instanceType": "large",
                "zones": ["local-1a", "local-1b"],
            },
        ],
    }
    body.update(changes)
    return body
