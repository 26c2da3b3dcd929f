"""The one image the local cloud runs for real: a Running pod of the agent's image (STRATA_AGENT_IMAGE)
gets a process running the agent's own code (`python -m strata_agent.main`), as a kubelet starts its
container: the container's environment (values, Secret and ConfigMap keys, the pod's fields), and the
pod's service-account token, the cluster's CA and the namespace in a folder (what the kubelet mounts at
/var/run/secrets/kubernetes.io/serviceaccount), the token renewed at 80 % of its life. A process that
exits is started again after a growing back-off (CrashLoopBackOff); a pod deleted, or its cluster gone,
stops its process (SIGTERM, then SIGKILL); a process dies with the emulator (PR_SET_PDEATHSIG).

Where this differs from a node, and says so in the README: the process runs on the emulator's machine,
not in a container (no image is pulled, resource limits and the security context are not enforced,
`hostNetwork` is what every such pod has), and it reaches its cluster's API at the emulator's address,
the cluster chosen by TLS server name and path (STRATA_AGENT_KUBE_SERVER and _SERVER_NAME), where a pod
would use kubernetes.default.svc."""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)
TOKEN_SECONDS = 3607  # what the kubelet asks for a projected service-account token
RENEW_AT = 0.8
BACKOFF_SECONDS, BACKOFF_CAP = 10.0, 300.0
STOP_GRACE = 5.0
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Launch:
    """What a container needs to start: its environment and its service account's token."""

    env: dict[str, str]
    token: str
    ca_cert: str
    namespace: str


class NotStartable(Exception):
    """The container cannot start yet (a Secret or ServiceAccount it needs is missing): tried again later."""


@dataclass
class _Process:
    pod: str
    folder: Path
    process: subprocess.Popen | None = None
    renew_at: float = 0.0
    restarts: int = 0
    start_after: float = 0.0
    log_file: Any = field(default=None, repr=False)


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class AgentRuntime:
    """The agent pods' processes, by cluster and pod uid."""

    def __init__(self, image: str, kubeapi_url: str, root: Path | None = None):
        self.image = image
        self.kubeapi_url = kubeapi_url.rstrip("/")
        # absolute: each process runs in its own folder
        self.root = (root or Path(tempfile.mkdtemp(prefix="strata-agent-pods-"))).resolve()
        self._running: dict[str, dict[str, _Process]] = {}

    def runs(self, pod: dict[str, Any]) -> bool:
        """A pod this runtime runs: Running, with a container of the agent's image."""
        return (pod.get("status") or {}).get("phase") == "Running" and any(
            c.get("image") == self.image for c in pod["spec"].get("containers") or []
        )

    def sync(self, cluster_id: str, server_name: str, pods: dict[str, dict[str, Any]],
             prepare: Any) -> float | None:  # fmt: skip
        """Processes for exactly these pods (by uid); `prepare(pod)` gives a Launch. The seconds until a
        token is to be renewed or a process started again (None: nothing due)."""
        running = self._running.setdefault(cluster_id, {})
        for uid in list(running):
            if uid not in pods:
                self._stop(running.pop(uid))
        now = time.monotonic()
        due: list[float] = []
        for uid, pod in pods.items():
            proc = running.get(uid)
            if proc is None:
                proc = running[uid] = _Process(f"{pod['metadata']['namespace']}/{pod['metadata']['name']}",
                                               self.root / cluster_id / uid)  # fmt: skip
            exited = proc.process is not None and proc.process.poll() is not None
            if exited:
                log.warning("agent pod %s of cluster %s exited (%s); starting it again", proc.pod, cluster_id,
                            proc.process.returncode if proc.process else None)  # fmt: skip
                proc.restarts += 1
                proc.start_after = now + min(BACKOFF_CAP, BACKOFF_SECONDS * 2 ** (proc.restarts - 1))
                proc.process = None
            if proc.process is None and now < proc.start_after:
                due.append(proc.start_after - now)
                continue
            if proc.process is None or now >= proc.renew_at:
                try:
                    launch = prepare(pod)
                except NotStartable as err:
                    log.info("agent pod %s of cluster %s cannot start yet: %s", proc.pod, cluster_id, err)
                    due.append(BACKOFF_SECONDS)
                    continue
                self._mount(proc.folder, launch)
                proc.renew_at = now + RENEW_AT * TOKEN_SECONDS
                if proc.process is None:
                    self._start(cluster_id, server_name, proc, launch)
            due.append(proc.renew_at - now)
        if not running:
            self._running.pop(cluster_id, None)
        return min(due, default=None)

    def stop_cluster(self, cluster_id: str) -> None:
        for proc in self._running.pop(cluster_id, {}).values():
            self._stop(proc)

    def stop_all(self) -> None:
        for cluster_id in list(self._running):
            self.stop_cluster(cluster_id)

    @staticmethod
    def _mount(folder: Path, launch: Launch) -> None:
        """The service account's volume (token written whole, then moved over the old one)."""
        account = folder / "serviceaccount"
        account.mkdir(parents=True, exist_ok=True)
        for name, text in (("ca.crt", launch.ca_cert), ("namespace", launch.namespace), ("token", launch.token)):
            part = account / f".{name}.new"
            part.touch(mode=0o600)
            part.write_text(text)
            part.replace(account / name)

    def _start(self, cluster_id: str, server_name: str, proc: _Process, launch: Launch) -> None:
        url = urlsplit(self.kubeapi_url)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONUNBUFFERED": "1",
               "KUBERNETES_SERVICE_HOST": url.hostname or "127.0.0.1",
               "KUBERNETES_SERVICE_PORT": str(url.port or 443), **launch.env,
               "STRATA_AGENT_SERVICEACCOUNT_DIR": str(proc.folder / "serviceaccount"),
               "STRATA_AGENT_KUBE_SERVER": f"{self.kubeapi_url}/clusters/{cluster_id}",
               "STRATA_AGENT_KUBE_SERVER_NAME": server_name}  # fmt: skip
        if proc.log_file is None:
            proc.log_file = open(proc.folder / "agent.log", "ab")  # noqa: SIM115 (kept open while it runs)
        proc.process = subprocess.Popen([sys.executable, "-m", "strata_agent.main"], env=env, cwd=proc.folder,
                                        stdin=subprocess.DEVNULL, stdout=proc.log_file, stderr=subprocess.STDOUT,
                                        preexec_fn=_die_with_parent)  # fmt: skip
        log.info("agent pod %s of cluster %s runs as process %d", proc.pod, cluster_id, proc.process.pid)

    @staticmethod
    def _stop(proc: _Process) -> None:
        if proc.process is not None and proc.process.poll() is None:
            proc.process.terminate()
            try:
                proc.process.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                proc.process.kill()
                proc.process.wait()
        if proc.log_file is not None:
            proc.log_file.close()
        shutil.rmtree(proc.folder, ignore_errors=True)
