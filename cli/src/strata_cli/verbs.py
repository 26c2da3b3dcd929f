"""`strata profile|cluster|cloudaccount ...` (with `cluster updates|update|timeline|scan`) and `strata token
create`."""

from __future__ import annotations

import argparse
import os

import psycopg
from psycopg.rows import dict_row

from strata_cli import scans, timeline, updates
from strata_cli.client import call, read_document, show
from strata_cli.plans import print_plan
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
        if resource == "cluster":
            create.add_argument("--dry-run", action="store_true", help="print the plan, create nothing")
        verbs.add_parser("list", help=f"list {resource}s")
        for verb in ("get", "delete"):
            verbs.add_parser(verb, help=f"{verb} a {resource}").add_argument("id")
        if resource == "cluster":
            ending = "end a delete that cannot finish (leftovers: GET /v1/leftovers)"
            verbs.choices["delete"].add_argument("--force", action="store_true", help=ending)
            updates.add_parsers(verbs)
            timeline.add_parser(verbs)
            scans.add_parser(verbs)
        for each in verbs.choices.values():
            each.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    localcloud = sub.add_parser(
        "localcloud", help="the built-in local cloud: faults, throttling and quotas (admin token)"
    )
    lc_verbs = localcloud.add_subparsers(dest="verb", required=True)
    fault = lc_verbs.add_parser(
        "fault",
        help="make the next COUNT calls of ACTION fail with CODE; 'fault rm ID' and 'fault clear' take faults back",
    )
    fault.add_argument("action", help="an action, or rm (then the fault's id) or clear")
    fault.add_argument("code", nargs="?", help="the error code the calls fail with (the fault's id after rm)")
    fault.add_argument("--count", type=int, default=1)
    fault.add_argument("--message", default="injected fault")
    lc_verbs.add_parser("faults", help="faults still waiting to fire")
    lc_verbs.add_parser("regions", help="regions with their vCPU quota and use")
    quota = lc_verbs.add_parser("quota", help="set a region's vCPU quota")
    quota.add_argument("region")
    quota.add_argument("vcpus", type=int)
    lc_verbs.add_parser("throttling", help="every action's request rate and burst")
    throttle = lc_verbs.add_parser("throttle", help="set an action's request rate (0 = off) and burst")
    throttle.add_argument("action")
    throttle.add_argument("rate", type=float)
    throttle.add_argument("--burst", type=float, help="calls at once (default: twice the rate, at least 1)")
    lc_verbs.add_parser("unthrottle", help="put an action's rate and burst back to the defaults").add_argument("action")
    for each in lc_verbs.choices.values():
        each.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    token = sub.add_parser("token", help="API tokens (talks to the database directly)")
    token_verbs = token.add_subparsers(dest="verb", required=True)
    create = token_verbs.add_parser("create", help="print a new token for a project (created if missing)")
    create.add_argument("--project", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", default="")
    create.add_argument("--platform-admin", action="store_true", help="may also create projects (POST /v1/projects)")


def run_resource(args: argparse.Namespace) -> int:
    path, columns = RESOURCES[args.command]
    if args.verb in ("updates", "update"):
        return updates.run(args)
    if args.verb == "timeline":
        return timeline.run(args)
    if args.verb == "scan":
        return scans.run(args)
    if args.verb == "create" and getattr(args, "dry_run", False):
        plan = call("POST", f"{path}?dryRun=true", read_document(args.file))
        print_plan(plan, args.output)
    elif args.verb == "create":
        show(call("POST", path, read_document(args.file)), args.output, columns)
    elif args.verb == "list":
        show(call("GET", path), args.output, columns)
    elif args.verb == "get":
        show(call("GET", f"{path}/{args.id}"), args.output, columns)
    elif args.verb == "delete":
        result = call("DELETE", f"{path}/{args.id}" + ("?force=true" if getattr(args, "force", False) else ""))
        if result is None:
            print(f"{args.command} {args.id} deleted")
        else:
            show(result, args.output, columns)
    return 0


FAULT_COLUMNS = [("ID", "id"), ("ACTION", "action"), ("CODE", "code"), ("REMAINING", "remaining")]
REGION_COLUMNS = [("REGION", "name"), ("VCPU QUOTA", "vcpuQuota"), ("VCPUS USED", "vcpusUsed")]
THROTTLING_COLUMNS = [("ACTION", "action"), ("RATE", "rate"), ("BURST", "burst")]


def run_localcloud(args: argparse.Namespace) -> int:
    if args.verb == "fault" and args.action == "rm":
        call("DELETE", f"/v1/localcloud/faults/{args.code}")
        print(f"fault {args.code} removed")
    elif args.verb == "fault" and args.action == "clear":
        print(f"removed {call('DELETE', '/v1/localcloud/faults')['removed']} faults")
    elif args.verb == "fault":
        body = {"action": args.action, "code": args.code, "count": args.count, "message": args.message}
        show(call("POST", "/v1/localcloud/faults", body), args.output, FAULT_COLUMNS)
    elif args.verb == "faults":
        show(call("GET", "/v1/localcloud/faults"), args.output, FAULT_COLUMNS)
    elif args.verb == "regions":
        show(call("GET", "/v1/localcloud/regions"), args.output, REGION_COLUMNS)
    elif args.verb == "throttling":
        show(call("GET", "/v1/localcloud/throttling"), args.output, THROTTLING_COLUMNS)
    elif args.verb == "unthrottle":
        show(call("DELETE", f"/v1/localcloud/throttling/{args.action}"), args.output, THROTTLING_COLUMNS)
    elif args.verb == "throttle":
        body = {"rate": args.rate, "burst": args.burst or max(1.0, 2 * args.rate)}
        show(call("PUT", f"/v1/localcloud/throttling/{args.action}", body), args.output, THROTTLING_COLUMNS)
    else:
        show(
            call("PUT", f"/v1/localcloud/regions/{args.region}/quota", {"vcpus": args.vcpus}),
            args.output,
            REGION_COLUMNS,
        )
    return 0


def run_token(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    env.setdefault("STRATA_DATABASE_URL", read_state(env).get("database_url", ""))
    with psycopg.connect(read_var("database_url", env), row_factory=dict_row) as conn:
        print(create_token(conn, args.project, args.role, args.name, args.platform_admin))
    return 0
