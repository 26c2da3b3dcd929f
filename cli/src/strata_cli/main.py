"""Entry point of the `strata` command."""

from __future__ import annotations

import argparse
import secrets
import sys

from strata_common.config import ConfigError, load_settings, read_var


def _parser() -> argparse.ArgumentParser:
    from strata_cli.serve import COMPONENTS

    parser = argparse.ArgumentParser(prog="strata", description="Strata control plane")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the whole stack on this machine (embedded PostgreSQL/Redis if unset)")
    up.add_argument("--demo", action="store_true", help="also create a demo cluster on the local cloud and follow it")
    up.add_argument("--verbose", action="store_true", help="every component's log lines, not only warnings and errors")
    sub.add_parser("status", help="report each component as up or down")
    logs = sub.add_parser("logs", help="a component's log as `strata up` keeps it (<state dir>/logs)")
    logs.add_argument("component")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    serve = sub.add_parser("serve", help="run one component in the foreground")
    serve.add_argument("component", choices=COMPONENTS)
    db = sub.add_parser("db", help="database commands")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply pending migrations (safe to run twice or concurrently)")
    events = sub.add_parser("events", help="print a cluster's events (STRATA_API_URL, else the local stack)")
    events.add_argument("cluster", help="cluster id")
    events.add_argument("--follow", "-f", action="store_true", help="keep printing new events as they happen")
    events.add_argument("--after", type=int, default=0, help="start after this event number")
    from strata_cli.verbs import add_parsers

    add_parsers(sub)
    sub.add_parser("secret-key", help="print a new random value for STRATA_SECRET_KEY")
    return parser


def run(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "up":
        from strata_cli.up import run_up

        return run_up(demo=args.demo, verbose=args.verbose)
    if args.command == "status":
        from strata_cli.status import run_status

        return run_status()
    if args.command == "logs":
        from strata_cli.logs import run_logs

        return run_logs(args.component, args.follow)
    if args.command == "serve":
        from strata_cli.serve import serve

        serve(args.component, load_settings())
    if args.command == "db":
        from strata_cli.database import prepare_database

        print(prepare_database(read_var("database_url")))
    if args.command == "events":
        from strata_cli.events import run_events

        return run_events(args.cluster, args.follow, args.after)
    if args.command in ("profile", "cluster", "cloudaccount"):
        from strata_cli.verbs import run_resource

        return run_resource(args)
    if args.command == "localcloud":
        from strata_cli.verbs import run_localcloud

        return run_localcloud(args)
    if args.command == "token":
        from strata_cli.verbs import run_token

        return run_token(args)
    if args.command == "secret-key":
        print(secrets.token_urlsafe(48))
    return 0


def main(argv: list[str] | None = None) -> None:
    from strata_cli.client import CliError

    try:
        sys.exit(run(argv))
    except ConfigError as err:
        print(f"strata: configuration error: {err}", file=sys.stderr)
        sys.exit(2)
    except CliError as err:
        print(f"strata: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
