"""Which local cluster a connection speaks to and who asks: the TLS server name is the cluster's load
balancer DNS name; the server certificate and the client CA are the cluster's own; a client without a
certificate shows a service account's token. A cluster's API answers
once one of its control-plane instances runs, with the version its kubeadm configuration names."""

from __future__ import annotations

import datetime
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from psycopg_pool import ConnectionPool

from strata_common.crypto import SecretBox
from strata_localcloud.inventory import Inventory
from strata_localcloud.kubeapi import store
from strata_localcloud.kubeapi.errors import ApiError
from strata_localcloud.kubeapi.serviceaccounts import User, certificate_user, token_user

CACHE_SECONDS = 30.0  # a running API's version follows its instances: their news also forgets it (`forget`)


@dataclass(frozen=True)
class ClusterInfo:
    id: str
    version: str
    server_name: str

    def version_info(self) -> dict[str, Any]:
        major, minor = self.version.lstrip("v").split(".")[:2]
        return {"major": major, "minor": minor, "gitVersion": self.version, "gitCommit": "strata-kubeapi",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23",
                "compiler": "gc", "platform": "linux/amd64"}  # fmt: skip


class ClusterDirectory:
    """Looks clusters up in the local cloud (cached for a moment) and makes their TLS contexts."""

    def __init__(self, pool: ConnectionPool, secret_key: str, inventory: Inventory):
        self.pool = pool
        self.inventory = inventory
        self.box = SecretBox(secret_key)
        self._lock = threading.Lock()
        self._infos: dict[str, tuple[float, ClusterInfo]] = {}
        self._names: dict[str, str] = {}
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._account_keys: dict[str, tuple[str, str]] = {}

    def info(self, cluster_id: str) -> ClusterInfo:
        """The cluster's API as it stands (a running API is kept for a moment; a missing one is looked up
        each time, so an API that just came up answers at once)."""
        cached = self._infos.get(cluster_id)
        if cached is None or time.monotonic() - cached[0] > CACHE_SECONDS:
            info, reason = self._load(cluster_id)
            if info is None:
                raise ApiError(503, "ServiceUnavailable", reason)
            cached = self._infos[cluster_id] = (time.monotonic(), info)
        return cached[1]

    def forget(self, cluster_id: str) -> None:
        """The cluster's instances changed: its API's version (or its being up) is looked up again."""
        self._infos.pop(cluster_id, None)

    def _load(self, cluster_id: str) -> tuple[ClusterInfo | None, str]:
        row = self.inventory.api_endpoint(cluster_id)
        if row is None:
            return None, f"cluster {cluster_id} has no API load balancer in its cloud"
        if row["version"] is None:
            return None, f"the API server of cluster {cluster_id} is not running yet (no control-plane node runs)"
        return ClusterInfo(cluster_id, row["version"], row["server_name"]), ""

    def authenticate(self, cluster_id: str, environ: dict[str, Any]) -> tuple[ClusterInfo, User]:
        """The cluster a request's path names, if the connection was opened to it (its server name), and
        who asks: the user of a client certificate its CA signed, else of a service account's token."""
        sock = environ.get("gunicorn.socket")
        if getattr(sock, "strata_cluster", None) != cluster_id:
            raise ApiError(403, "Forbidden", "the connection was opened to another cluster's API (server name)")
        info = self.info(cluster_id)
        peer = sock.getpeercert() if isinstance(sock, ssl.SSLSocket) else None
        if peer:
            return info, certificate_user(peer)
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        with self.pool.connection() as conn:
            return info, token_user(store.Tx(conn, cluster_id), self.account_keys(cluster_id)[1], token.strip())

    def account_keys(self, cluster_id: str) -> tuple[str, str]:
        """The cluster's service-account signing key and its public half (PEM)."""
        if cluster_id not in self._account_keys:
            private = self._secrets(cluster_id)["serviceAccountKey"]
            key = serialization.load_pem_private_key(private.encode(), None)
            public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
            self._account_keys[cluster_id] = (private, public.decode())
        return self._account_keys[cluster_id]

    def ca_cert(self, cluster_id: str) -> str:
        return self._secrets(cluster_id)["caCert"]

    def _secrets(self, cluster_id: str) -> dict[str, str]:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT sealed FROM cluster_secrets WHERE cluster_id = %s", (cluster_id,)).fetchone()
        if row is None:
            raise LookupError(cluster_id)
        return self.box.open(row["sealed"])

    def cluster_of(self, server_name: str) -> str | None:
        if server_name not in self._names:
            cluster = self.inventory.cluster_of_server_name(server_name)
            if cluster is None:
                return None
            self._names[server_name] = cluster
        return self._names[server_name]

    def sni_callback(self, sock: ssl.SSLSocket, server_name: str | None, _ctx: ssl.SSLContext) -> int | None:
        """Pick the cluster's certificate and client CA by the name the client asked for."""
        cluster_id = self.cluster_of(server_name) if server_name else None
        if cluster_id is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        try:
            sock.context = self.context(cluster_id, server_name or "")
        except LookupError:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        sock.strata_cluster = cluster_id  # type: ignore[attr-defined]
        return None

    def context(self, cluster_id: str, server_name: str) -> ssl.SSLContext:
        with self._lock:
            if cluster_id not in self._contexts:
                self._contexts[cluster_id] = self._make_context(cluster_id, server_name)
            return self._contexts[cluster_id]

    def _make_context(self, cluster_id: str, server_name: str) -> ssl.SSLContext:
        secrets = self._secrets(cluster_id)
        cert, key = serving_certificate(secrets["caCert"], secrets["caKey"], server_name)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as folder:  # the ssl module loads a key pair only from files
            cert_file, key_file = Path(folder, "tls.crt"), Path(folder, "tls.key")
            cert_file.write_text(cert)
            key_file.touch(mode=0o600)
            key_file.write_text(key)
            context.load_cert_chain(cert_file, key_file)
        context.load_verify_locations(cadata=secrets["caCert"])
        context.verify_mode = ssl.CERT_OPTIONAL  # a certificate, when sent, must be the CA's; else a bearer token
        return context


def serving_certificate(ca_cert_pem: str, ca_key_pem: str, server_name: str) -> tuple[str, str]:
    """(certificate, key) of kube-apiserver for the cluster's endpoint, signed by the cluster CA."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    ca_key = serialization.load_pem_private_key(ca_key_pem.encode(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names = [server_name, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
             "kubernetes.default.svc.cluster.local", "localhost"]  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names if n]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem
