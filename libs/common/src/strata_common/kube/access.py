"""Where a cluster's Kubernetes API answers and with which credentials, and its admin kubeconfig.

A cluster's API endpoint is its load balancer; the registry says where a client connects and
which TLS server name it verifies (the local cloud's emulator serves local clusters, and those of
accounts with `"kubernetes": "emulated"`, at STRATA_KUBEAPI_URL/clusters/{id}, choosing the
certificate by the load balancer's DNS name).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import yaml

from strata_common.clouds import registry
from strata_common.config import Settings
from strata_common.crypto import SecretBox
from strata_common.db.types import DbConnection


@dataclass(frozen=True)
class KubeAccess:
    server: str
    server_name: str | None
    ca_cert: str
    client_cert: str
    client_key: str
    cluster_name: str
    token_file: str | None = None  # a pod's service-account token, read at each request (the kubelet renews it)


class NotReachable(LookupError):
    """The cluster has no certificates or API endpoint yet."""


ACCESS = """
SELECT c.id, c.spec ->> 'cloudType' AS cloud, c.status ->> 'endpoint' AS endpoint, a.config, s.sealed
FROM clusters c LEFT JOIN cluster_secrets s ON s.cluster_id = c.id
LEFT JOIN cloud_accounts a ON a.id = (c.spec ->> 'cloudAccount')::uuid WHERE c.id = ANY(%s)
"""


def cluster_access(conn: DbConnection, cluster_id: UUID | str, settings: Settings) -> KubeAccess:
    """The cluster's access (one query: the add-ons service asks for every step it runs)."""
    found = cluster_accesses(conn, [cluster_id], settings)
    if not found:
        raise NotReachable("the cluster's certificates or API endpoint do not exist yet")
    return next(iter(found.values()))


def cluster_accesses(
    conn: DbConnection, cluster_ids: Sequence[UUID | str], settings: Settings
) -> dict[UUID, KubeAccess]:
    """The access of each of these clusters whose certificates and API endpoint exist (one query)."""
    box = SecretBox(settings.secret_key)
    found = {}
    for row in conn.execute(ACCESS, ([str(c) for c in cluster_ids],)).fetchall():
        if row["sealed"] is None or row["endpoint"] is None:
            continue
        secrets = box.open(row["sealed"])
        server, server_name = registry.api_server(row["cloud"], row["config"] or {}, str(row["id"]), row["endpoint"],
                                                  settings)  # fmt: skip
        found[row["id"]] = KubeAccess(server, server_name, secrets["caCert"], secrets["adminCert"],
                                      secrets["adminKey"], secrets["clusterName"])  # fmt: skip
    return found


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
