"""A generation's timeline as Gantt bars: each step's offset and length as shares of the whole, and
whether it is on the critical path; milestones likewise."""

from __future__ import annotations

from typing import Any


def gantt(timeline: dict[str, Any]) -> dict[str, Any]:
    steps, milestones = timeline["steps"], timeline["milestones"]
    ends = [s["offsetSeconds"] + (s["seconds"] or 0.0) for s in steps]
    ends += [m["offsetSeconds"] + (m["seconds"] or 0.0) for m in milestones]
    span = max([timeline["seconds"] or 0.0, *ends, 0.001])
    critical = set(timeline["criticalPath"]["steps"])

    def bar(offset: float, seconds: float | None) -> dict[str, float]:
        return {"left": round(100 * offset / span, 2), "width": round(max(100 * (seconds or 0.0) / span, 0.4), 2)}

    return {"span": span,
            "milestones": [{**m, **bar(m["offsetSeconds"], m["seconds"])} for m in milestones],
            "steps": [{**s, **bar(s["offsetSeconds"], s["seconds"]), "critical": s["name"] in critical}
                      for s in steps]}  # fmt: skip
