"""Cloud accounts: where clusters run; credentials are sealed at rest and never shown again."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app
from psycopg.types.json import Jsonb

from strata_api.errors import ApiError
from strata_api.http import api, load_json, principal, reply, transaction, uuid_arg
from strata_api.schemas import CloudAccountCreate, CloudAccountList, CloudAccountView
from strata_common.crypto import SecretBox

bp = Blueprint("cloudaccounts", __name__, url_prefix="/v1/cloudaccounts")


def account_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "cloud": row["cloud"],
        "config": row["config"],
        "hasCredentials": row["credentials"] is not None,
        "createdAt": row["created_at"],
    }


def own_account(conn, account_id) -> dict[str, Any]:
    row = conn.execute(
        "SELECT * FROM cloud_accounts WHERE id = %s AND project_id = %s",
        (uuid_arg(str(account_id), "cloud account"), principal().project_id),
    ).fetchone()
    if row is None:
        raise ApiError(404, "not_found", f"cloud account {str(account_id)!r} not found")
    return row


@bp.post("")
@api("Add a cloud account", role="operator", request_schema=CloudAccountCreate,
     responses={201: CloudAccountView, 409: None, 422: None}, idempotent=True)  # fmt: skip
def create_account():
    data = load_json(CloudAccountCreate())
    box = SecretBox(current_app.config["STRATA_SETTINGS"].secret_key)
    sealed = box.seal(data["credentials"]) if data["credentials"] else None
    with transaction() as conn:
        row = conn.execute(
            "INSERT INTO cloud_accounts (project_id, name, cloud, config, credentials) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (project_id, name) DO NOTHING RETURNING *",
            (principal().project_id, data["name"], data["cloud"], Jsonb(data["config"]), sealed),
        ).fetchone()
        if row is None:
            raise ApiError(409, "conflict", f"a cloud account named {data['name']!r} exists", {"name": "already used"})
        return reply(201, CloudAccountView, account_view(row), conn)


@bp.get("")
@api("List this project's cloud accounts", responses={200: CloudAccountList})
def list_accounts():
    with transaction() as conn:
        rows = conn.execute(
            "SELECT * FROM cloud_accounts WHERE project_id = %s ORDER BY name", (principal().project_id,)
        ).fetchall()
    return reply(200, CloudAccountList, {"items": [account_view(r) for r in rows]})


@bp.get("/<account_id>")
@api("Get a cloud account (never its credentials)", responses={200: CloudAccountView, 404: None})
def get_account(account_id: str):
    with transaction() as conn:
        return reply(200, CloudAccountView, account_view(own_account(conn, account_id)))


@bp.delete("/<account_id>")
@api("Delete a cloud account no cluster uses", role="operator", responses={204: None, 404: None, 409: None})
def delete_account(account_id: str):
    with transaction() as conn:
        row = own_account(conn, account_id)
        if conn.execute(
            "SELECT 1 FROM clusters WHERE cloud_account_id = %s AND deleted_at IS NULL LIMIT 1", (row["id"],)
        ).fetchone():
            raise ApiError(409, "in_use", "clusters run in this account; delete them first")
        conn.execute("DELETE FROM cloud_accounts WHERE id = %s", (row["id"],))
    return "", 204
