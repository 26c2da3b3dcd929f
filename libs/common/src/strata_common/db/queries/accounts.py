"""Cloud accounts as the workers see them: the row a cluster's driver is built from."""

from __future__ import annotations

from typing import Any

from strata_common.db.types import DbConnection


def account_row(conn: DbConnection, account_id: Any) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT id, cloud, config, credentials FROM cloud_accounts WHERE id = %s", (account_id,)
    ).fetchone()
