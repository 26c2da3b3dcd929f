"""Run the emulator: one HTTPS server (TLS server name picks the cluster) plus the controllers thread."""

from __future__ import annotations

import ipaddress
import logging
import signal
import ssl
import sys
import threading
from urllib.parse import urlsplit

from werkzeug.serving import make_server

from strata_common.config import ConfigError, Settings, load_settings
from strata_common.db.pool import get_pool
from strata_common.logs import setup_logging
from strata_common.notify import Notifier
from strata_kubeapi.app import KubeApi
from strata_kubeapi.clusters import ClusterDirectory
from strata_kubeapi.controllers import Controllers
from strata_kubeapi.store import CHANNEL

log = logging.getLogger("strata.kubeapi")


def build(settings: Settings) -> tuple[KubeApi, Controllers, ClusterDirectory]:
    pool = get_pool(settings)
    directory = ClusterDirectory(pool, settings.secret_key)
    controllers = Controllers(pool, directory, settings.localcloud_time_scale)
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


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as err:
        print(f"strata kubeapi: {err}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    app, controllers, directory = build(settings)
    url = urlsplit(settings.kubeapi_url)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_REQUIRED  # the cluster's own context (chosen by server name) verifies
    context.sni_callback = directory.sni_callback
    server = make_server(bind_address(url.hostname), url.port or 6443, app, threaded=True, ssl_context=context)
    threading.Thread(target=controllers.run, name="controllers", daemon=True).start()

    def stop(*_: object) -> None:
        controllers.stop()
        app.notifier.close()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("Kubernetes API emulator listening on %s", settings.kubeapi_url)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
