"""The AWS stand-ins the tests run as real processes: moto_server behind our wrapper
(tests/moto_support.py) with IAM authentication on, the AMIs the built-in OS packs name, and a
real sshd (Debian's openssh-server) standing in for image builder VMs.

moto checks every request's signature against its IAM users once INITIAL_NO_AUTH_ACTION_COUNT
actions have run, so the suite makes one administrator and hands its keys to the drivers: wrong
keys are refused as AWS refuses them. moto's AMI catalog is replaced (MOTO_AMIS_PATH) by images
named and owned as Canonical, Red Hat and the CentOS project publish theirs; moto has the same AMI
ids in every region, which AWS does not (the driver resolves by owner and name, never by id)."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
import requests

from helpers import wait_answering, wait_until
from strata_cli.embedded import free_port

TESTS = Path(__file__).resolve().parent
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
UNAUTHENTICATED_SETUP = 3  # CreateUser, PutUserPolicy, CreateAccessKey


def _ami(ami_id: str, owner: str, name: str, created: str) -> dict:
    return {"ami_id": ami_id, "state": "available", "public": True, "owner_id": owner,
            "image_location": f"{owner}/{name}", "sriov": "simple", "root_device_type": "ebs",
            "root_device_name": "/dev/sda1", "description": name, "image_type": "machine", "platform": None,
            "architecture": "x86_64", "name": name, "virtualization_type": "hvm", "hypervisor": "xen",
            "creation_date": created}  # fmt: skip


AMIS = [
    _ami("ami-0a0e5d9c7acc336f1", "099720109477", "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20240801",
         "2024-08-01T00:00:00.000Z"),
    _ami("ami-0e86e20dae9224db8", "099720109477", "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20241002",
         "2024-10-02T00:00:00.000Z"),
    _ami("ami-04b70fa74e45c3917", "099720109477",
         "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20241004", "2024-10-04T00:00:00.000Z"),
    _ami("ami-0583d8c7a9c35822c", "309956199498", "RHEL-9.4.0_HVM-20240605-x86_64-82-Hourly2-GP3",
         "2024-06-05T00:00:00.000Z"),
    _ami("ami-0df2a11dd1fe1f8e3", "125523088429", "CentOS Stream 9 x86_64 20241001", "2024-10-01T00:00:00.000Z"),
    _ami("ami-0ebfd941bbafe70c6", "137112412989", "al2023-ami-2023.5.20240916.0-kernel-6.1-x86_64",
         "2024-09-16T00:00:00.000Z"),
]  # fmt: skip
LATEST_JAMMY = "ami-0e86e20dae9224db8"


@dataclass(frozen=True)
class Moto:
    url: str
    access_key: str
    secret_key: str

    def session(self) -> boto3.Session:
        return boto3.Session(aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                             region_name="us-east-1")  # fmt: skip

    def client(self, service: str, region: str = "us-east-1"):
        return self.session().client(service, region_name=region, endpoint_url=self.url)

    def refuse(self, action: str, code: str, message: str, count: int = 1, rate: float = 0.0,
               when: dict[str, str] | None = None) -> None:  # fmt: skip
        """The next `count` calls of `action` (or a `rate` share of them, until cleared) fail as AWS words
        it; with `when`, only calls with those parameters."""
        status = 503 if code == "RequestLimitExceeded" else 400
        fault = {"action": action, "code": code, "message": message, "status": status, "count": count, "rate": rate,
                 "when": when or {}}  # fmt: skip
        requests.post(f"{self.url}/_strata/faults", json=fault, timeout=10).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.url}/_strata/faults", timeout=10).raise_for_status()

    def lag(self, seconds: float) -> None:
        requests.post(f"{self.url}/_strata/lag", json={"seconds": seconds}, timeout=10).raise_for_status()

    def calls(self) -> dict[str, int]:
        return requests.get(f"{self.url}/_strata/calls", timeout=10).json()


@dataclass(frozen=True)
class Sshd:
    address: str  # host:port
    authorized_keys: Path
    roots: Path  # a folder per builder stands for its root filesystem


def start_moto(folder: Path, sshd: Sshd | None = None) -> tuple[subprocess.Popen, Moto]:
    """moto_server behind the wrapper on a free port, with an administrator's keys."""
    (folder / "amis.json").write_text(json.dumps(AMIS))
    env = {**os.environ, "MOTO_AMIS_PATH": str(folder / "amis.json"),
           "INITIAL_NO_AUTH_ACTION_COUNT": str(UNAUTHENTICATED_SETUP)}  # fmt: skip
    if sshd:  # instances are "booted" for the sshd that stands in for them: their keys and root folders
        env["STRATA_MOTO_AUTHORIZED_KEYS"] = str(sshd.authorized_keys)
        env["STRATA_MOTO_INSTANCE_ROOTS"] = str(sshd.roots)
    port = free_port()
    log = open(folder / "moto.log", "wb")  # noqa: SIM115 - the process keeps it
    proc = subprocess.Popen([sys.executable, str(TESTS / "moto_support.py"), str(port)], stdout=log,
                            stderr=subprocess.STDOUT, env=env)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_answering(f"{url}/_strata/calls", "moto_server")
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="setup",
                       aws_secret_access_key="setup")  # fmt: skip
    iam.create_user(UserName="strata")
    iam.put_user_policy(UserName="strata", PolicyName="admin", PolicyDocument=json.dumps(ADMIN_POLICY))
    key = iam.create_access_key(UserName="strata")["AccessKey"]
    return proc, Moto(url, key["AccessKeyId"], key["SecretAccessKey"])


def start_sshd(folder: Path) -> tuple[subprocess.Popen, Sshd]:
    """Debian's sshd on a free loopback port, taking the keys in `authorized_keys` (which the moto
    wrapper fills on ImportKeyPair, as cloud-init does on a real instance)."""
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    folder.mkdir(parents=True, exist_ok=True)
    host_key, keys, roots = folder / "host_ed25519", folder / "authorized_keys", folder / "roots"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    keys.touch(mode=0o600)
    roots.mkdir()
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {folder / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {keys}\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nUsePAM no\nLogLevel VERBOSE\nSubsystem sftp internal-sftp\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    log = open(folder / "sshd.log", "wb")  # noqa: SIM115 - the process keeps it
    proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)

    def listening() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return proc.poll() is not None  # exited: stop waiting, the assertion below says why

    wait_until(listening, timeout=20, message="sshd to listen")
    assert proc.poll() is None, (folder / "sshd.log").read_text()
    return proc, Sshd(f"127.0.0.1:{port}", keys, roots)


def aws_account(moto: Moto, sshd: Sshd, regions: list[str]) -> dict:
    """A cloud account body for the API: moto's endpoint, emulated Kubernetes, builders over the sshd."""
    return {"cloud": "aws",
            "config": {"endpointUrl": moto.url, "defaultRegion": regions[0], "regions": regions,
                       "kubernetes": "emulated",
                       "builderSsh": {"address": sshd.address, "user": getpass.getuser(), "root": str(sshd.roots)}},
            "credentials": {"accessKeyId": moto.access_key, "secretAccessKey": moto.secret_key}}  # fmt: skip
