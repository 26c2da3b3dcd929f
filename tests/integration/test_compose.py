"""docker-compose.yml parses with docker-compose, runs every component of the stack, and uses the Helm
chart's default settings."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from strata_common.queues import SERVICES

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = {"postgres", "redis", "migrate", "api", "imagebuilder", "provisioner", "addons", "kubeapi", "beat",
              "flower"}  # fmt: skip


@pytest.fixture(scope="module")
def services() -> dict:
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.fail("docker-compose is not installed; `make test` installs Debian's docker-compose package")
    result = subprocess.run(
        [compose, "-f", str(ROOT / "docker-compose.yml"), "config"],
        env={"PATH": "/usr/bin:/bin", "STRATA_SECRET_KEY": "k" * 48},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def test_docker_compose_config_parses(services):
    assert set(services) == COMPONENTS
    for name in COMPONENTS - {"migrate"}:
        assert "healthcheck" in services[name], name
    for name in ("imagebuilder", "provisioner", "addons", "kubeapi", "beat", "flower", "api"):
        assert services[name]["command"] == ["serve", name]
        assert services[name]["environment"]["STRATA_DATABASE_URL"].startswith("postgresql://")


def test_docker_compose_uses_the_charts_settings(services):
    values = yaml.safe_load((ROOT / "helm" / "strata" / "values.yaml").read_text())
    for name in COMPONENTS - {"postgres", "redis", "migrate"}:
        environment = services[name]["environment"]
        assert {k: environment.get(k) for k in values["config"]} == values["config"], name
    assert services["api"]["environment"]["STRATA_API_WORKERS"] == str(values["api"]["workers"])
    assert services["api"]["environment"]["STRATA_API_THREADS"] == str(values["api"]["threads"])
    for name in SERVICES:
        environment = services[name]["environment"]
        assert environment["STRATA_WORKER_CONCURRENCY"] == str(values[name]["concurrency"]), name
        assert environment["STRATA_METRICS_PORT"] == str(values["metrics"]["port"]), name
        assert f":{values['metrics']['port']}/readyz" in " ".join(services[name]["healthcheck"]["test"]), name
