"""`strata profile|cluster|cloudaccount ...` and `strata token create`."""

from __future__ import annotations

import argparse
import os

import psycopg
from psycopg.rows import dict_row

from strata_cli.client import call, read_document, show
from strata_cli.up import read_state
from strata_common.config import read_var
from strata_common.db.tokens import ROLES, create_token

RESOURCES = {
    # resource: (API path, table columns)
    "profile": ("/v1/profiles", [("ID", "id"), ("NAME", "name"), ("REVISION", "revision"), ("PACKS", "layers")]),
    "cluster": (
        "/v1/clusters",
        [("ID", "id"), ("NAME", "name"), ("PHASE", "phase"), ("GENERATION", "generation"), ("POOLS", "pools")],
    ),
    "cloudaccount": ("/v1/cloudaccounts", [("ID", "id"), ("NAME", "name"), ("CLOUD", "cloud")]),
}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    for resource, (_, _columns) in RESOURCES.items():
        parser = sub.add_parser(resource, help=f"{resource}s through the API (STRATA_API_URL, STRATA_TOKEN)")
        verbs = parser.add_subparsers(dest="verb", required=True)
        create = verbs.add_parser("create", help=f"create a {resource} from a YAML or JSON file")
        create.add_argument("-f", "--file", required=True, help="file with the request body ('-' for stdin)")
        verbs.add_parser("list", help=f"list {resource}s")
        for verb in ("get", "delete"):
            verbs.add_parser(verb, help=f"{verb} a {resource}").add_argument("id")
        for each in verbs.choices.values():
            each.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    token = sub.add_parser("token", help="API tokens (talks to the database directly)")
    token_verbs = token.add_subparsers(dest="verb", required=True)
    create = token_verbs.add_parser("create", help="print a new token for a project (created if missing)")
    create.add_argument("--project", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", default="")


def run_resource(args: argparse.Namespace) -> int:
    path, columns = RESOURCES[args.command]
    if args.verb == "create":
        show(call("POST", path, read_document(args.file)), args.output, columns)
    elif args.verb == "list":
        show(call("GET", path), args.output, columns)
    elif args.verb == "get":
        show(call("GET", f"{path}/{args.id}"), args.output, columns)
    elif args.verb == "delete":
        result = call("DELETE", f"{path}/{args.id}")
        if result is None:
            print(f"{args.command} {args.id} deleted")
        else:
            show(result, args.output, columns)
    return 0


def run_token(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    env.setdefault("STRATA_DATABASE_URL", read_state(env).get("database_url", ""))
    with psycopg.connect(read_var("database_url", env), row_factory=dict_row) as conn:
        print(create_token(conn, args.project, args.role, args.name))
    return 0
