"""docker-compose.yml parses with docker-compose and runs every component of the stack."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = {"postgres", "redis", "migrate", "api", "imagebuilder", "provisioner", "addons", "kubeapi", "beat",
              "flower"}  # fmt: skip


def test_docker_compose_config_parses():
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
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == COMPONENTS
    for name in COMPONENTS - {"migrate"}:
        assert "healthcheck" in services[name], name
    for name in ("imagebuilder", "provisioner", "addons", "kubeapi", "beat", "flower", "api"):
        assert services[name]["command"] == ["serve", name]
        assert services[name]["environment"]["STRATA_DATABASE_URL"].startswith("postgresql://")
