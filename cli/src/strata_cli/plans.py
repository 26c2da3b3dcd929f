"""A dry run's plan as text (`--dry-run` of `strata cluster create` and `strata cluster update apply`): its
steps with what each waits for and is expected to take, the machines it adds and retires, and what its
pack steps would create (+), change (~) and prune (-) in the cluster."""

from __future__ import annotations

import json
from typing import Any

from strata_cli.client import show


def print_plan(plan: dict[str, Any], output: str) -> None:
    """The plan as text, or as the API's JSON or YAML."""
    if output == "table":
        print(render_plan(plan), end="")
    else:
        show(plan, output, [])


def _object(obj: dict[str, Any]) -> str:
    return f"{obj['kind']} {obj['namespace'] + '/' if obj['namespace'] else ''}{obj['name']}"


def _value(value: Any) -> str:
    return json.dumps(value)


def render_plan(plan: dict[str, Any]) -> str:
    expected = plan["expected"]
    lines = [f"dry run: generation {plan['generation']}, {len(plan['steps'])} steps, expected "
             f"{expected['seconds']:.1f}s ({expected['basis']})",
             f"critical path: {' > '.join(expected['criticalPath'])}"]  # fmt: skip
    width = max((len(step["name"]) for step in plan["steps"]), default=0)
    for step in plan["steps"]:
        waits = f"  cloud: {', '.join(step['cloudWaits'])}" if step["cloudWaits"] else ""
        lines.append(f"  {step['name']:<{width}}  {step['milestone'] or '':<20} {step['expectedSeconds']:7.1f}s{waits}")
    lines += [f"+ machine {m['machine']} (pool {m['pool']}, {m['zone']})" for m in plan["adds"]]
    lines += [f"- machine {m['machine']} (pool {m['pool']}: {m['reason']})" for m in plan["retires"]]
    kubernetes = plan["kubernetes"]
    lines.append(f"kubernetes objects: {kubernetes['message']}")
    lines += [f"  cannot render: {problem}" for problem in kubernetes["problems"]]
    for pack in kubernetes["packs"]:
        counts = ", ".join(f"{len(pack[what])} {what}" for what in ("create", "change", "prune"))
        left = f", {pack['unchanged']} unchanged" if pack["unchanged"] is not None else ""
        lines.append(f"  {pack['pack']} {pack['version']}: {counts}{left}")
        lines += [f"    + {_object(obj)}" for obj in pack["create"]]
        for obj in pack["change"]:
            lines.append(f"    ~ {_object(obj)}")
            for field in obj["fields"]:
                shown = " -> ".join(_value(field[k]) for k in ("old", "new") if k in field)
                lines.append(f"        {field['path']}: {shown or field['change']}")
            lines += [f"        taken back from another manager: {cause}" for cause in obj.get("takesBack", [])]
        lines += [f"    - {_object(obj)}" for obj in pack["prune"]]
    return "\n".join(lines) + "\n"
