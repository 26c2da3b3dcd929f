"""Cloud account commands: credentials are sealed before they are stored; an account in use stays."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from strata_api.commands import Work
from strata_api.errors import ApiError
from strata_api.queries.accounts import account_in_use, own_account
from strata_common.clouds import registry
from strata_common.clouds.driver import AUTH, INVALID, CloudError
from strata_common.clouds.registry import CloudAccount
from strata_common.crypto import SecretBox


def check_credentials(data: dict[str, Any]) -> None:
    """Ask the cloud whether it takes the account (where a driver for it is installed): 422 naming
    `credentials` when it refuses them, naming `config` when it refuses a setting, 503 when it cannot
    be reached. The cloud's own words are shown; the secret never is."""
    found = registry.plugins().get(data["cloud"])
    if found is None:
        return
    try:
        found.check_account(CloudAccount("new", data["cloud"], data["config"], data["credentials"]))
    except CloudError as refused:
        if refused.kind == AUTH:
            raise ApiError(422, "invalid", f"{data['cloud']} refused the credentials",
                           {"credentials": [f"{refused.code}: {refused.message}"]}) from None  # fmt: skip
        if refused.kind == INVALID:
            said = [f"{refused.code}: {refused.message}"]
            raise ApiError(422, "invalid", f"{data['cloud']} refused the account's settings",
                           {f"config.{refused.setting}" if refused.setting else "config": said}) from None  # fmt: skip
        raise ApiError(503, "cloud_unavailable", f"could not check the account with {data['cloud']}: "
                                                 f"{refused.code}: {refused.message}") from None  # fmt: skip


def catalog(row: dict[str, Any], secret_key: str) -> dict[str, Any]:
    """Where the account's clusters can run: regions with their zones (as its cloud reports them for the
    account where they are the account's own, vSphere's compute clusters with their capacity; else the
    cloud's catalog) and the instance types. 503 when the cloud cannot be asked."""
    cloud = row["cloud"]
    offered = registry.catalog(cloud)
    listed = offered.regions if offered else {}
    regions: dict[str, list[dict[str, Any]]] = {r: [{"name": z} for z in zones] for r, zones in listed.items()}
    found = registry.plugins().get(cloud)
    if found is not None:
        credentials = SecretBox(secret_key).open(row["credentials"]) if row["credentials"] else {}
        try:
            own = found.account_zones(CloudAccount(str(row["id"]), cloud, row["config"], credentials))
        except CloudError as refused:
            raise ApiError(503, "cloud_unavailable", f"could not ask {cloud} for the account's zones: "
                                                     f"{refused.code}: {refused.message}") from None  # fmt: skip
        regions = own if own is not None else regions
    sizes = offered.instance_types.values() if offered else []
    return {"cloud": cloud, "regions": [{"name": name, "zones": zones} for name, zones in sorted(regions.items())],
            "instanceTypes": [{"name": t.name, "cpu": t.cpu, "memoryMiB": t.memory_mib} for t in sizes]}  # fmt: skip


def create_account(work: Work, data: dict[str, Any]) -> dict[str, Any]:
    sealed = SecretBox(work.settings.secret_key).seal(data["credentials"]) if data["credentials"] else None
    row = work.conn.execute(
        "INSERT INTO cloud_accounts (project_id, name, cloud, config, credentials) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (project_id, name) DO NOTHING RETURNING *",
        (work.project_id, data["name"], data["cloud"], Jsonb(data["config"]), sealed),
    ).fetchone()
    if row is None:
        raise ApiError(409, "conflict", f"a cloud account named {data['name']!r} exists", {"name": "already used"})
    return row


def delete_account(work: Work, account_id: str) -> None:
    row = own_account(work.conn, work.project_id, account_id)
    if account_in_use(work.conn, row["id"]):
        raise ApiError(409, "in_use", "clusters run in this account; delete them first")
    work.conn.execute("DELETE FROM cloud_accounts WHERE id = %s", (row["id"],))
