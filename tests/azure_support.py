"""The Azure stand-in the tests run: our ARM server (tests/arm_server.py) as a real HTTPS process on a
free port with its own certificate, one service principal that owns one subscription, and its levers
(faults per operation, call counts, the regional cores quota, restricted sizes)."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests
from aws_support import Sshd

from helpers import wait_until
from strata_cli.embedded import free_port

TESTS = Path(__file__).resolve().parent
QUOTA_WORDS = "exceeding approved Total Regional Cores quota"
ARM_LOCATIONS = ("eastus", "westeurope", "northeurope")
ROOMY_QUOTA = 1000  # cores per region for the tests that are not about the quota
JAMMY = {"imagePublisher": "Canonical", "imageOffer": "0001-com-ubuntu-server-jammy", "imageSKU": "22_04-lts-gen2"}


@dataclass(frozen=True)
class ArmStandIn:
    url: str
    ca: Path  # the server's self-signed certificate, its own CA
    tenant: str
    client: str
    secret: str
    subscription: str

    def _lever(self, path: str, body: dict | None = None, method: str = "POST") -> dict:
        answer = requests.request(method, f"{self.url}/_strata/{path}", json=body or {}, verify=self.ca, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def refuse(self, operation: str, code: str, message: str, count: int = 1, status: int = 400,
               retry_after: int | None = None, rate: float = 0.0, when: dict | None = None) -> None:  # fmt: skip
        """The next `count` calls of `operation` ("PUT virtualMachines", "POST token", ...) answer ARM's error."""
        self._lever(
            "faults",
            {
                "operation": operation,
                "code": code,
                "message": message,
                "count": count,
                "status": status,
                "retryAfter": retry_after,
                "rate": rate,
                "when": when or {},
            },
        )

    def clear_faults(self) -> None:
        """No more faults, throttling or restricted sizes."""
        self._lever("faults", method="DELETE")

    def calls(self) -> dict[str, int]:
        return self._lever("calls", method="GET")["calls"]

    def early(self) -> dict[str, int]:
        """Calls that came back before a 429's Retry-After had passed, by operation."""
        return self._lever("calls", method="GET")["early"]

    def quota(self, location: str, cores: int) -> None:
        self._lever("quota", {"location": location, "cores": cores})

    def usage(self) -> dict[str, int]:
        return self._lever("usage", method="GET")

    def restrict(self, location: str, size: str) -> None:
        self._lever("restrict", {"location": location, "size": size})

    def settings(self, **values: float) -> None:
        self._lever("settings", values)


def start_arm(folder: Path, sshd: Sshd | None = None) -> tuple[subprocess.Popen, ArmStandIn]:
    cert, key = folder / "arm.crt", folder / "arm.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)  # fmt: skip
    principal = {"tenant": str(uuid.uuid4()), "client": str(uuid.uuid4()), "secret": f"s~{uuid.uuid4().hex}",
                 "subscription": str(uuid.uuid4())}  # fmt: skip
    env = {**os.environ, "STRATA_ARM_CLIENTS": json.dumps([principal])}
    if sshd:  # VMs "boot" for the sshd that stands in for image builders
        env["STRATA_ARM_AUTHORIZED_KEYS"] = str(sshd.authorized_keys)
        env["STRATA_ARM_INSTANCE_ROOTS"] = str(sshd.roots)
    port = free_port()
    log = open(folder / "arm.log", "wb")  # noqa: SIM115 - the process keeps it
    proc = subprocess.Popen([sys.executable, str(TESTS / "arm_server.py"), str(port), str(folder)], stdout=log,
                            stderr=subprocess.STDOUT, env=env)  # fmt: skip
    arm = ArmStandIn(f"https://127.0.0.1:{port}", cert, principal["tenant"], principal["client"], principal["secret"],
                     principal["subscription"])  # fmt: skip

    def answering() -> bool:
        try:
            arm.calls()
            return True
        except requests.RequestException:
            return proc.poll() is not None

    wait_until(answering, timeout=30, interval=0.1, message="the ARM stand-in to answer")
    assert proc.poll() is None, (folder / "arm.log").read_text()
    return proc, arm


def azure_account(arm: ArmStandIn, sshd: Sshd | None = None, **config: object) -> dict:
    """A cloud account body for the API: the stand-in's ARM and identity endpoints, its CA, emulated Kubernetes."""
    if sshd is not None:
        config["builderSsh"] = {"address": sshd.address, "user": getpass.getuser(), "root": str(sshd.roots)}
    return {"name": "azure", "cloud": "azure",
            "config": {"tenantId": arm.tenant, "subscriptionId": arm.subscription, "endpointUrl": arm.url,
                       "authorityHost": arm.url, "caBundle": arm.ca.read_text(), "kubernetes": "emulated",
                       "defaultRegion": "eastus", **config},
            "credentials": {"clientId": arm.client, "clientSecret": arm.secret}}  # fmt: skip
