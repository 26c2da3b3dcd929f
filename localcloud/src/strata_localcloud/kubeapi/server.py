"""Run the emulator: gunicorn (one process, threads, kept-alive HTTPS connections; the TLS server
name picks the cluster) plus the controllers thread."""

from __future__ import annotations

import ipaddress
import logging
import resource
import shutil
import signal
import ssl
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gunicorn.app.base import BaseApplication

from strata_common import pki
from strata_common.config import ConfigError, Settings, load_settings
from strata_common.db.pool import get_pool
from strata_common.logs import setup_logging
from strata_common.notify import Notifier, close_all
from strata_localcloud.inventory import Inventory
from strata_localcloud.kubeapi.app import KubeApi
from strata_localcloud.kubeapi.clusters import ClusterDirectory
from strata_localcloud.kubeapi.controllers import INSTANCE_NEWS, Controllers
from strata_localcloud.kubeapi.runtime import AgentRuntime
from strata_localcloud.kubeapi.store import CHANNEL

log = logging.getLogger("strata.kubeapi")
THREADS = 256  # requests and watches in flight; idle kept-alive connections wait in the poller, not here
KEEPALIVE_SECONDS = 75
CONNECTIONS = 8192  # open connections; beyond CONNECTIONS - THREADS, answered connections are closed, not kept


def build(settings: Settings) -> tuple[KubeApi, Controllers, ClusterDirectory]:
    pool = get_pool(settings)
    directory = ClusterDirectory(pool, settings.secret_key, Inventory(pool, settings))
    pods = Path(settings.state_dir) / "agent-pods"  # the agent pods' folders, left from a previous run: gone
    shutil.rmtree(pods, ignore_errors=True)
    runtime = AgentRuntime(settings.agent_image, settings.kubeapi_url, pods)
    controllers = Controllers(pool, directory, settings.localcloud_time_scale, settings.retention, runtime)
    Notifier(settings.database_url, INSTANCE_NEWS, on_news=controllers.instances_changed).start()
    app = KubeApi(
        pool,
        Notifier(settings.database_url, CHANNEL),
        directory,
        on_write=controllers.written,
        on_request=controllers.seen,
    )
    return app, controllers, directory


def bind_address(host: str | None) -> str:
    """The URL's address when it is one (127.0.0.1 by default); a host name (a container's) binds all."""
    try:
        return str(ipaddress.ip_address(host or "127.0.0.1"))
    except ValueError:
        return "0.0.0.0"


class Emulator(BaseApplication):
    """gunicorn with one gthread worker: the controllers keep per-process state, so one process serves."""

    def __init__(self, settings: Settings, placeholder: Path):
        self.settings = settings
        self.placeholder = placeholder
        self.context: ssl.SSLContext | None = None
        super().__init__()

    def load_config(self) -> None:
        url = urlsplit(self.settings.kubeapi_url)
        for name, value in {
            "bind": f"{bind_address(url.hostname)}:{url.port or 6443}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": THREADS,
            "worker_connections": CONNECTIONS,
            "keepalive": KEEPALIVE_SECONDS,
            "graceful_timeout": 5,
            "accesslog": None,  # a line per request of every cluster: too many to be of use
            "loglevel": self.settings.log_level.lower(),
            # gunicorn serves TLS when a key pair is configured; the context it uses is ours (ssl_context)
            "certfile": str(self.placeholder / "tls.crt"),
            "keyfile": str(self.placeholder / "tls.key"),
            "ssl_context": lambda _conf, _factory: self.context,
            "post_worker_init": self.post_worker_init,
        }.items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        app, controllers, directory = build(self.settings)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.placeholder / "tls.crt", self.placeholder / "tls.key")
        context.verify_mode = ssl.CERT_OPTIONAL  # the cluster's own context (chosen by server name) verifies
        context.sni_callback = directory.sni_callback
        self.context = context
        self.controllers = controllers
        threading.Thread(target=controllers.run, name="controllers", daemon=True).start()
        log.info("Kubernetes API emulator listening on %s", self.settings.kubeapi_url)
        return app

    def post_worker_init(self, _worker: Any) -> None:
        """On SIGTERM, stop the controllers and end open watches at once, then let gunicorn stop."""
        previous = signal.getsignal(signal.SIGTERM)

        def stop(signum: int, frame: Any) -> None:
            self.controllers.stop()
            close_all()
            if callable(previous):
                previous(signum, frame)

        signal.signal(signal.SIGTERM, stop)


def placeholder_key_pair(folder: Path) -> None:
    """The listening context's own certificate, shown to no client: every handshake names a cluster
    (SNI) and switches to that cluster's context, or is refused."""
    secrets = pki.generate("strata-kubeapi")
    (folder / "tls.crt").write_text(secrets["caCert"])
    key = folder / "tls.key"
    key.touch(mode=0o600)
    key.write_text(secrets["caKey"])


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as err:
        print(f"strata kubeapi: {err}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_format)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 2 * CONNECTIONS:  # each connection is a file descriptor
        wanted = 2 * CONNECTIONS if hard == resource.RLIM_INFINITY else min(2 * CONNECTIONS, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    with tempfile.TemporaryDirectory() as folder:
        placeholder_key_pair(Path(folder))
        Emulator(settings, Path(folder)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
