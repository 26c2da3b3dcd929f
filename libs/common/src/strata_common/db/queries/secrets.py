"""A cluster's sealed PKI (cluster_secrets): written once by the provisioner, read by whoever talks
to the cluster's API."""

from __future__ import annotations

from typing import Any

from strata_common.crypto import SecretBox
from strata_common.db.types import DbConnection, one


def ca_cert(conn: DbConnection, cluster_id: Any) -> str | None:
    row = conn.execute("SELECT ca_cert FROM cluster_secrets WHERE cluster_id = %s", (cluster_id,)).fetchone()
    return row["ca_cert"] if row else None


def store_once(conn: DbConnection, cluster_id: Any, secrets: dict[str, str], key: str) -> str:
    """Seal and store the cluster's secrets unless some are stored already; the CA certificate that won
    (a conflicting insert touches nothing but answers the stored row)."""
    row = conn.execute(
        "INSERT INTO cluster_secrets (cluster_id, sealed, ca_cert) VALUES (%s, %s, %s)"
        " ON CONFLICT (cluster_id) DO UPDATE SET cluster_id = EXCLUDED.cluster_id RETURNING ca_cert",
        (cluster_id, SecretBox(key).seal(secrets), secrets["caCert"]),
    ).fetchone()
    return one(row)["ca_cert"]


def unsealed(conn: DbConnection, cluster_id: Any, key: str) -> dict[str, str] | None:
    """The cluster's secrets in the clear, or None before they exist."""
    row = conn.execute("SELECT sealed FROM cluster_secrets WHERE cluster_id = %s", (cluster_id,)).fetchone()
    return SecretBox(key).open(row["sealed"]) if row else None
