"""One build per signature and cloud account, with the lock in PostgreSQL: the `image_builds` row
names the step that builds; every other step waits while that step is unfinished, and takes the
build over (as a new attempt) once it has finished without an image. The holder's own retry after a
failed build is a new attempt too (each attempt launches its own builder)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import Connection

UNFINISHED = ("pending", "ready", "running", "failed")


@dataclass(frozen=True)
class Claim:
    mine: bool
    attempt: int
    holder_cluster: UUID
    built: str | None  # the image this step's own build made, when an earlier run of it finished the build


def claim(conn: Connection, account: str, signature: str, step_id: int, cluster_id: UUID) -> Claim:
    """Take the build of `signature`, keep it if this step holds it, or learn who holds it."""
    row = conn.execute(
        """
        INSERT INTO image_builds AS b (cloud_account_id, signature, step_id, cluster_id, status)
        VALUES (%(account)s, %(signature)s, %(step)s, %(cluster)s, 'building')
        ON CONFLICT (cloud_account_id, signature) DO UPDATE
        SET step_id = %(step)s, cluster_id = %(cluster)s, attempt = b.attempt + 1, status = 'building',
            error = NULL, started_at = now(), finished_at = NULL
        WHERE b.status <> 'succeeded' AND (
            (b.step_id = %(step)s AND b.status = 'failed')
            OR (b.step_id <> %(step)s
                AND NOT EXISTS (SELECT 1 FROM steps s WHERE s.id = b.step_id AND s.status = ANY(%(unfinished)s))))
        RETURNING *
        """,
        {"account": account, "signature": signature, "step": step_id, "cluster": cluster_id,
         "unfinished": list(UNFINISHED)},
    ).fetchone()  # fmt: skip
    if row is None:
        row = conn.execute(
            "SELECT * FROM image_builds WHERE cloud_account_id = %s AND signature = %s", (account, signature)
        ).fetchone()
    own = row["step_id"] == step_id
    built = row["image_id"] if own and row["status"] == "succeeded" else None
    return Claim(own and row["status"] != "succeeded", row["attempt"], row["cluster_id"], built)


def finish(conn: Connection, account: str, signature: str, step_id: int, image_id: str | None, error: str | None):
    conn.execute(
        "UPDATE image_builds SET status = %s, image_id = %s, error = %s, finished_at = now()"
        " WHERE cloud_account_id = %s AND signature = %s AND step_id = %s",
        ("succeeded" if image_id else "failed", image_id, error, account, signature, step_id),
    )


def record_image(conn: Connection, account: str, region: str, image_id: str, signature: str, source: str,
                 state: str, labels: dict[str, Any]) -> None:  # fmt: skip
    """Note an image a cluster of `account` was given (GET /v1/images lists these)."""
    conn.execute(
        """
        INSERT INTO images (cloud_account_id, region, image_id, signature, source, state, pack_name, pack_version,
                            kubernetes_version)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (cloud_account_id, region, image_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()
        """,
        (account, region, image_id, signature, source, state, labels["pack"], labels["packVersion"],
         labels.get("kubernetesVersion")),
    )  # fmt: skip
