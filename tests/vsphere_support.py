"""vcsim, the vSphere stand-in, as a real process: built once from tests/vcsim/main.go against Debian's
govmomi sources (`make test` installs golang-go and golang-github-vmware-govmomi-dev), started on a
free port behind a small HTTPS proxy of ours that injects faults per SOAP method and counts calls
(vcsim has no fault injection), with a VM template per datacenter standing in for an imported OVA.

vcsim 0.24's gaps, which the driver must not rely on: CloneSpec.config is ignored (the driver
reconfigures after cloning), a second clone of the same name is accepted (the driver looks up
before it clones), guest.ipAddress stays empty, and a clone's fault comes back from the proxy on
the call rather than on the task (the driver maps both the same way)."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import html
import os
import re
import shutil
import ssl
import subprocess
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
import urllib3
import yaml
from aws_support import Sshd

from helpers import wait_until
from strata_cli.embedded import free_port

TESTS = Path(__file__).resolve().parent
CACHE = TESTS.parent / ".tools" / "vcsim"
GOPATH = "/usr/share/gocode"
USER, PASSWORD = "administrator@vsphere.local", "vcsim-secret"
TEMPLATE = "ubuntu-22.04-kube-v1.32"
METHOD = re.compile(rb"<soapenv:Body>\s*<(\w+)\s", re.S)
FAULT = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>
<faultcode>ServerFaultCode</faultcode><faultstring>{message}</faultstring>
<detail><{code}Fault xmlns="urn:vim25" xsi:type="{code}"><faultMessage><key>strata.test</key>
<message>{message}</message></faultMessage></{code}Fault></detail>
</soapenv:Fault></soapenv:Body></soapenv:Envelope>"""


def vcsim_binary() -> Path:
    """The vcsim built from tests/vcsim/main.go (rebuilt when that file changes)."""
    source = TESTS / "vcsim" / "main.go"
    binary = CACHE / f"vcsim-{hashlib.sha256(source.read_bytes()).hexdigest()[:12]}"
    if binary.exists():
        return binary
    if shutil.which("go") is None or not Path(GOPATH, "src/github.com/vmware/govmomi").exists():
        raise RuntimeError("Go and govmomi's sources are missing: `make system-deps` installs golang-go and "
                           "golang-github-vmware-govmomi-dev")  # fmt: skip
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "build.lock", "w") as lock:  # the test processes build it once between them
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            part = binary.with_suffix(f".{os.getpid()}")
            env = {**os.environ, "GO111MODULE": "off", "GOPATH": GOPATH, "GOCACHE": str(CACHE / "gocache")}
            subprocess.run(["go", "build", "-o", str(part), str(source)], env=env, check=True, capture_output=True,
                           timeout=600)  # fmt: skip
            part.replace(binary)
    return binary


@dataclass
class Faults:
    """Faults by SOAP method: the next `count` calls answer a vSphere fault; calls counted per method."""

    pending: dict[str, list[dict]] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, method: str) -> dict | None:
        with self.lock:
            self.calls[method] += 1
            queue = self.pending.get(method) or []
            if not queue:
                return None
            fault = queue[0]
            fault["count"] -= 1
            if fault["count"] <= 0:
                queue.pop(0)
            return fault


@dataclass
class Vcsim:
    url: str  # the proxy's https://host:port
    host: str
    port: int
    faults: Faults
    user: str = USER
    password: str = PASSWORD

    def refuse(self, method: str, code: str, message: str, count: int = 1) -> None:
        """The next `count` calls of SOAP `method` (CloneVM_Task, ...) answer the vSphere fault `code`."""
        with self.faults.lock:
            self.faults.pending.setdefault(method, []).append({"code": code, "message": message, "count": count})

    def clear_faults(self) -> None:
        with self.faults.lock:
            self.faults.pending.clear()

    def calls(self) -> Counter:
        with self.faults.lock:
            return Counter(self.faults.calls)


USER_DATA = re.compile(rb"guestinfo\.userdata</key>\s*<value[^>]*>([^<]+)</value>", re.S)
THIS = re.compile(rb"<_this[^>]*>([^<]+)</_this>")


def _boot(body: bytes, sshd: Sshd) -> None:
    """What cloud-init does when a VM boots with guestinfo user data, for the sshd that stands in for the
    VM: its authorized keys, and a root folder with a booted Linux's configuration folders."""
    data, vm = USER_DATA.search(body), THIS.search(body)
    if not (data and vm):
        return
    config = yaml.safe_load(base64.b64decode(data.group(1)).decode().removeprefix("#cloud-config")) or {}
    with open(sshd.authorized_keys, "a") as keys:
        keys.writelines(f"{key.strip()}\n" for key in config.get("ssh_authorized_keys", []))
    etc = sshd.roots / vm.group(1).decode() / "etc"
    for folder in ("sysctl.d", "ssh", "audit", "modules-load.d"):
        (etc / folder).mkdir(parents=True, exist_ok=True)
    (etc / "os-release").write_text('ID=ubuntu\nVERSION_ID="22.04"\n')
    (etc / "lsb-release").write_text("DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\n")


def _proxy(upstream: str, faults: Faults, cert_dir: Path, sshd: Sshd | None = None) -> ThreadingHTTPServer:
    session = requests.Session()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: without it each answer waits 40 ms

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            found = METHOD.search(body)
            method = found.group(1).decode() if found else ""
            fault = faults.take(method) if method else None
            if fault:
                text = FAULT.format(code=fault["code"], message=html.escape(fault["message"])).encode()
                return self._send(500, {"Content-Type": "text/xml; charset=utf-8"}, text)
            if method == "ReconfigVM_Task" and sshd is not None:
                _boot(body, sshd)
            self._forward(body)

        def do_GET(self) -> None:
            self._forward(None)

        def _forward(self, body: bytes | None) -> None:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            answer = session.request(
                self.command, upstream + self.path, data=body, headers=headers, timeout=60, verify=False
            )  # vcsim's own certificate; the driver checks the proxy's (or not)
            dropped = ("content-length", "transfer-encoding", "connection", "content-encoding")
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in dropped}
            self._send(answer.status_code, kept, answer.content)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert, key = cert_dir / "proxy.crt", cert_dir / "proxy.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)  # fmt: skip
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_vcsim(folder: Path, sshd: Sshd | None = None) -> tuple[subprocess.Popen, ThreadingHTTPServer, Vcsim]:
    """vcsim on a free port behind the fault proxy, with TEMPLATE in each datacenter; vcsim's login is
    any user and password, so the tests' own pair stands in for an account's."""
    urllib3.disable_warnings()
    port = free_port()
    log = open(folder / "vcsim.log", "wb")  # noqa: SIM115 - the process keeps it
    proc = subprocess.Popen([str(vcsim_binary()), "-listen", f"127.0.0.1:{port}"], stdout=log,
                            stderr=subprocess.STDOUT)  # fmt: skip
    upstream = f"https://127.0.0.1:{port}"
    wait_until(lambda: _answers(upstream), timeout=30, interval=0.1, message="vcsim to answer")
    faults = Faults()
    server = _proxy(upstream, faults, folder, sshd)
    vcsim = Vcsim(f"https://127.0.0.1:{server.server_port}", "127.0.0.1", server.server_port, faults)
    make_templates(vcsim)
    return proc, server, vcsim


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/about", verify=False, timeout=2).status_code < 500
    except requests.RequestException:
        return False


def make_templates(vcsim: Vcsim) -> None:
    """A VM template named TEMPLATE in each datacenter's first datastore (an OVA already imported)."""
    from pyVim.connect import Disconnect, SmartConnect
    from pyVim.task import WaitForTask
    from pyVmomi import vim

    si = SmartConnect(host=vcsim.host, port=vcsim.port, user=vcsim.user, pwd=vcsim.password,
                      disableSslCertValidation=True)  # fmt: skip
    try:
        for dc in si.RetrieveContent().rootFolder.childEntity:
            cluster = dc.hostFolder.childEntity[0]
            config = vim.vm.ConfigSpec(name=TEMPLATE, numCPUs=2, memoryMB=2048, guestId="ubuntu64Guest",
                                       files=vim.vm.FileInfo(vmPathName=f"[{dc.datastore[0].name}]"))  # fmt: skip
            WaitForTask(dc.vmFolder.CreateVM_Task(config=config, pool=cluster.resourcePool))
            vm = next(v for v in dc.vmFolder.childEntity if v.name == TEMPLATE)
            vm.MarkAsTemplate()
    finally:
        Disconnect(si)
