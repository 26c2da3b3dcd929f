"""Cloud accounts: where clusters run; credentials are sealed at rest and never shown again."""

from __future__ import annotations

from flask import Blueprint, current_app

from strata_api.commands import accounts as commands
from strata_api.http import api, db, load_json, principal, release_db, reply, work
from strata_api.queries import accounts as queries
from strata_api.queries.accounts import account_view
from strata_api.schemas import CatalogView, CloudAccountCreate, CloudAccountList, CloudAccountView

bp = Blueprint("cloudaccounts", __name__, url_prefix="/v1/cloudaccounts")


@bp.post("")
@api("Add a cloud account", role="operator", request_schema=CloudAccountCreate,
     responses={201: CloudAccountView, 409: None, 422: None, 503: None}, idempotent=True)  # fmt: skip
def create_account():
    data = load_json(CloudAccountCreate())
    commands.check_credentials(data)  # before a database connection is taken: the cloud may be slow
    with work() as unit:
        return reply(201, CloudAccountView, account_view(commands.create_account(unit, data)), unit.conn)


@bp.get("")
@api("List this project's cloud accounts", responses={200: CloudAccountList})
def list_accounts():
    return reply(
        200, CloudAccountList, {"items": [account_view(r) for r in queries.list_accounts(db(), principal().project_id)]}
    )


@bp.get("/<account_id>")
@api("Get a cloud account (never its credentials)", responses={200: CloudAccountView, 404: None})
def get_account(account_id: str):
    return reply(200, CloudAccountView, account_view(queries.own_account(db(), principal().project_id, account_id)))


@bp.get("/<account_id>/catalog")
@api("Where the account's clusters can run: regions, zones (vSphere's compute clusters with their capacity) and "
     "instance types", responses={200: CatalogView, 404: None, 503: None})  # fmt: skip
def get_catalog(account_id: str):
    row = queries.own_account(db(), principal().project_id, account_id)
    release_db()  # the cloud may be slow to answer
    return reply(200, CatalogView, commands.catalog(row, current_app.config["STRATA_SETTINGS"].secret_key))


@bp.delete("/<account_id>")
@api("Delete a cloud account no cluster uses", role="operator", responses={204: None, 404: None, 409: None})
def delete_account(account_id: str):
    with work() as unit:
        commands.delete_account(unit, account_id)
    return "", 204
