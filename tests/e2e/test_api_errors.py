"""The API over real HTTP: probes, and errors always as JSON naming what is wrong."""

import pytest
import requests

from helpers import start_api
from strata_cli.embedded import free_port


@pytest.fixture
def api(processes, strata_env) -> str:
    return start_api(processes, strata_env)


def test_ready_when_database_and_redis_answer(api):
    response = requests.get(f"{api}/readyz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


def test_not_ready_names_the_failing_part(processes, strata_env):
    api = start_api(processes, {**strata_env, "STRATA_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    response = requests.get(f"{api}/readyz", timeout=10)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert list(error["fields"]) == ["redis"]
    assert "redis" in error["message"]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [("get", "/nowhere", 404, "not_found"), ("post", "/healthz", 405, "method_not_allowed")],
)
def test_errors_are_json_never_html(api, method, path, status, code):
    response = requests.request(method, f"{api}{path}", timeout=5)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"]["code"] == code
    assert set(body["error"]) == {"code", "message", "fields"}
