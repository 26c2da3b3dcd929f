"""`strata cluster scan ID [--failed] [--now]`: the cluster's latest CIS Kubernetes Benchmark scan (or one
run now) as a table of checks, with its totals."""

from __future__ import annotations

import argparse

from strata_cli.client import CliError, call, show

COLUMNS = [("CHECK", "id"), ("STATUS", "status"), ("SCORED", "scored"), ("NODE", "nodeType"), ("TEXT", "text")]


def add_parser(verbs: argparse._SubParsersAction) -> None:
    scan = verbs.add_parser("scan", help="the cluster's latest CIS scan as a table of checks")
    scan.add_argument("id")
    scan.add_argument("--failed", action="store_true", help="only the checks that failed")
    scan.add_argument("--now", action="store_true", help="scan the cluster now first")


def run(args: argparse.Namespace) -> int:
    url = f"/v1/clusters/{args.id}/scans"
    if args.now:
        number = call("POST", url)["number"]
    else:
        latest = call("GET", url)["items"]
        if not latest:
            raise CliError(f"cluster {args.id} has no scan yet (scan it with --now)")
        number = latest[0]["number"]
    report = call("GET", f"{url}/{number}" + ("?status=FAIL" if args.failed else ""))
    if args.output != "table":
        show(report, args.output, COLUMNS)
        return 0
    show({"items": report["results"]}, "table", COLUMNS)
    print(f"scan {report['number']} ({report['trigger']}, {report['scannedAt']}): {report['summary']}")
    return 0
