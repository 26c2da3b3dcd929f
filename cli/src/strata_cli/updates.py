"""`strata cluster updates ID` and `strata cluster update show|resolve|apply ID N [--dry-run]`: a cluster's
update notifications, printed with their values diff like a unified diff of YAML."""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from strata_cli.client import CliError, call, show
from strata_cli.plans import print_plan

UPDATE_COLUMNS = [
    ("NUMBER", "number"),
    ("STATUS", "status"),
    ("FROM", "profile.fromRevision"),
    ("TO", "profile.toRevision"),
    ("REPLACES NODES", "replacesNodes"),
    ("UNRESOLVED", "unresolved"),
]


def add_parsers(verbs: argparse._SubParsersAction) -> None:
    """The update verbs of `strata cluster`."""
    verbs.add_parser("updates", help="a cluster's update notifications, newest first").add_argument("id")
    update = verbs.add_parser("update", help="show, resolve or apply a cluster's update notification")
    update.add_argument("action", choices=("show", "resolve", "apply"))
    update.add_argument("id")
    update.add_argument("number", type=int)
    update.add_argument("--keep", action="append", default=[], metavar="PACK:PATH", help="keep the override")
    update.add_argument("--take", action="append", default=[], metavar="PACK:PATH", help="take the profile's value")
    update.add_argument("--set", action="append", default=[], metavar="PACK:PATH=VALUE", help="a value (YAML)")
    update.add_argument("--dry-run", action="store_true", help="apply: print the plan, change nothing")


def run(args: argparse.Namespace) -> int:
    if args.verb == "updates":
        show(call("GET", f"/v1/clusters/{args.id}/updates"), args.output, UPDATE_COLUMNS)
        return 0
    url = f"/v1/clusters/{args.id}/updates/{args.number}"
    if args.action == "show":
        update = call("GET", url)
    elif args.action == "resolve":
        update = call("PUT", f"{url}/resolutions", {"resolutions": _resolutions(args)})
    elif args.dry_run:
        plan = call("POST", f"{url}/apply?dryRun=true")
        print_plan(plan, args.output)
        return 0
    else:
        update = call("POST", f"{url}/apply")
    if args.output == "table":
        print(render(update), end="")
    else:
        show(update, args.output, UPDATE_COLUMNS)
    return 0


def _target(text: str) -> dict[str, str]:
    pack, sep, path = text.partition(":")
    if not sep or not pack or not path:
        raise CliError(f"{text!r}: name a conflict as PACK:PATH (for example calico:mtu)")
    return {"pack": pack, "path": path}


def _resolutions(args: argparse.Namespace) -> list[dict[str, Any]]:
    chosen = [{**_target(t), "action": "keep-override"} for t in args.keep]
    chosen += [{**_target(t), "action": "take-profile"} for t in args.take]
    for text in args.set:
        target, sep, value = text.partition("=")
        if not sep:
            raise CliError(f"{text!r}: give the value as PACK:PATH=VALUE")
        chosen.append({**_target(target), "action": "value", "value": yaml.safe_load(value)})
    if not chosen:
        raise CliError("say how to resolve: --keep, --take or --set (each may repeat)")
    return chosen


def _yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


def render(update: dict[str, Any]) -> str:
    """The notification as text: its revisions, each pack's change with a unified diff of its values, then
    its conflicts and how each is resolved."""
    revisions = update["profile"]
    nodes = update["replacesNodes"]
    verb = "replaces" if update["status"] == "pending" else "replaced"
    applied = f", generation {update['appliedGeneration']}" if update["appliedGeneration"] else ""
    lines = [f"update {update['number']} ({update['status']}{applied}): profile revision "
             f"{revisions['fromRevision']} -> {revisions['toRevision']}"
             f"{f', {verb} {nodes} node(s)' if nodes is not None else ''}"]  # fmt: skip
    for change in update["changes"]:
        versions = " -> ".join(v for v in (change["fromVersion"], change["toVersion"]) if v)
        if change["fromVersion"] == change["toVersion"]:
            versions = change["toVersion"]
        replaces = ", replaces nodes" if change["replacesNodes"] else ""
        lines.append(f"{change['pack']} {versions} ({change['change']}{replaces})")
        for value in change["values"]:
            if "old" in value:
                lines.append(f"-   {value['path']}: {_yaml(value['old'])}")
            if "new" in value:
                lines.append(f"+   {value['path']}: {_yaml(value['new'])}")
    if update["conflicts"]:
        lines.append(f"conflicts ({update['unresolved']} unresolved):")
    for conflict in update["conflicts"]:
        said = [f"{name} {_yaml(conflict[name])}" for name in ("base", "profile") if name in conflict]
        resolution = conflict["resolution"] or {"action": "unresolved"}
        chosen = resolution["action"] + (f" {_yaml(resolution['value'])}" if "value" in resolution else "")
        lines.append(f"  {conflict['pack']}:{conflict['path']}: {', '.join(said) or 'new'}, override "
                     f"{_yaml(conflict['override'])} -> {chosen}")  # fmt: skip
    return "\n".join(lines) + "\n"
