"""Where a cluster's Kubernetes API answers and with which credentials, and its admin kubeconfig.

A cluster's API endpoint is its load balancer. On the local cloud the emulator serves every
cluster at STRATA_KUBEAPI_URL/clusters/{id}; the TLS server name (tls-server-name in the
kubeconfig) is the load balancer's DNS name, as a real endpoint's certificate would carry it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import yaml
from psycopg import Connection

from strata_common.config import Settings
from strata_common.crypto import SecretBox


@dataclass(frozen=True)
class KubeAccess:
    server: str
    server_name: str | None
    ca_cert: str
    client_cert: str
    client_key: str
    cluster_name: str


class NotReachable(LookupError):
    """The cluster has no certificates or API endpoint yet."""


def cluster_access(conn: Connection, cluster_id: UUID | str, settings: Settings) -> KubeAccess:
    row = conn.execute(
        """
        SELECT c.spec ->> 'cloudType' AS cloud, s.sealed,
               (SELECT output ->> 'endpoint' FROM steps WHERE cluster_id = c.id AND name = 'ensure_load_balancer'
                  AND status = 'succeeded' ORDER BY generation DESC LIMIT 1) AS endpoint
        FROM clusters c LEFT JOIN cluster_secrets s ON s.cluster_id = c.id WHERE c.id = %s
        """,
        (cluster_id,),
    ).fetchone()
    if row is None or row["sealed"] is None or row["endpoint"] is None:
        raise NotReachable("the cluster's certificates or API endpoint do not exist yet")
    secrets = SecretBox(settings.secret_key).open(row["sealed"])
    server, server_name = row["endpoint"], None
    if row["cloud"] == "local":
        server = f"{settings.kubeapi_url.rstrip('/')}/clusters/{cluster_id}"
        server_name = urlsplit(row["endpoint"]).hostname
    return KubeAccess(server, server_name, secrets["caCert"], secrets["adminCert"], secrets["adminKey"],
                      secrets["clusterName"])  # fmt: skip


def kubeconfig(access: KubeAccess) -> str:
    """An admin kubeconfig for the cluster (client certificate of system:masters)."""

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    name, user = access.cluster_name, f"{access.cluster_name}-admin"
    cluster: dict[str, Any] = {"server": access.server, "certificate-authority-data": b64(access.ca_cert)}
    if access.server_name:
        cluster["tls-server-name"] = access.server_name
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": cluster}],
            "users": [{"name": user, "user": {"client-certificate-data": b64(access.client_cert),
                                              "client-key-data": b64(access.client_key)}}],
            "contexts": [{"name": f"{user}@{name}", "context": {"cluster": name, "user": user}}],
            "current-context": f"{user}@{name}",
            "preferences": {},
        },
        sort_keys=False,
    )  # fmt: skip
