"""`strata cluster timeline ID`: where a generation's time went, as a text Gantt chart. Each step's bar
starts when it became due and is split in proportion into queued (`.`), working (`#`) and waiting (`~`)
time; steps on the critical path are marked `*`. Colours on a terminal (NO_COLOR turns them off)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from strata_cli.client import call, show

WIDTH = 60
MARKS = {"queued": (".", "2"), "working": ("#", "32"), "waiting": ("~", "33")}  # mark, ANSI colour


def add_parser(verbs: argparse._SubParsersAction) -> None:
    timeline = verbs.add_parser("timeline", help="where a generation's time went, as a text Gantt chart")
    timeline.add_argument("id")
    timeline.add_argument("--generation", type=int, help="default: the cluster's current generation")


def run(args: argparse.Namespace) -> int:
    query = f"?generation={args.generation}" if args.generation else ""
    data = call("GET", f"/v1/clusters/{args.id}/timeline{query}")
    if args.output == "table":
        colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        print(render(data, colour), end="")
    else:
        show(data, args.output, [])
    return 0


def _bar(step: dict[str, Any], scale: float, colour: bool) -> str:
    parts = [(name, step[f"{name}Seconds"]) for name in MARKS]
    total = sum(seconds for _, seconds in parts) or 1.0
    length = max(1, round((step["seconds"] or total) * scale))
    bar = ""
    for name, seconds in parts:
        mark, code = MARKS[name]
        count = round(length * seconds / total)
        if count:
            bar += f"\033[{code}m{mark * count}\033[0m" if colour else mark * count
    return bar or MARKS["working"][0]


def render(data: dict[str, Any], colour: bool = False) -> str:
    steps = data["steps"]
    span = data["seconds"] or max((s["offsetSeconds"] + (s["seconds"] or 0)) for s in steps) or 1.0
    scale = WIDTH / span
    critical = set(data["criticalPath"]["steps"])
    name_width = max(len(step["name"]) for step in steps) + 2
    total = "still running" if data["seconds"] is None else f"{data['seconds']:.2f} s"
    lines = [f"generation {data['generation']}: {total}   . queued  # working  ~ waiting  * critical path"]
    for step in steps:
        mark = "*" if step["name"] in critical else " "
        offset = " " * round(step["offsetSeconds"] * scale)
        took = "running" if step["seconds"] is None else f"{step['seconds']:.2f} s"
        lines.append(f"{mark} {step['name']:<{name_width}}|{offset}{_bar(step, scale, colour)} {took}"
                     f" (x{step['attempts']})")  # fmt: skip
    path = data["criticalPath"]
    lines.append(f"critical path: {' -> '.join(path['steps'])}")
    lines.append(f"  queued {path['queuedSeconds']:.2f} s, working {path['workingSeconds']:.2f} s, "
                 f"waiting {path['waitingSeconds']:.2f} s")  # fmt: skip
    return "\n".join(lines) + "\n"
