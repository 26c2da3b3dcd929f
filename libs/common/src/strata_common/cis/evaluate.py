"""The checks evaluated against a cluster's node models, into a report in kube-bench's JSON shape
(Controls -> tests -> results, with totals), so a real kube-bench Job's report reads the same way."""

from __future__ import annotations

from typing import Any

from strata_common.cis.checks import CHECKS, CONTROLS, SECTIONS, VERSION, Check
from strata_common.cis.kubebench import STATUSES
from strata_common.cis.nodes import Node

_ABSENT = object()


def _lookup(values: dict[str, Any], dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(values, dict) or key not in values:
            return _ABSENT
        values = values[key]
    return values


def _compare(actual: Any, op: str, want: Any = None) -> bool:
    present = actual is not _ABSENT and actual is not None
    if op == "set":
        return present and actual not in ("", [], {})
    if op == "unset":
        return not present
    if op == "eq":
        return present and actual == want
    if op == "not_eq":
        return not present or actual != want
    if op == "not_in":
        return not present or actual not in want
    if op == "gte":
        return present and int(actual) >= want
    items = str(actual).split(",") if present else []
    return want in items if op == "has" else want not in items  # lacks


def _run(test: tuple[Any, ...], node: Node) -> tuple[bool | None, str, str, str]:
    """(passed, or None when the node has nothing to judge; what was audited; the actual value; expected)."""
    kind = test[0]
    if kind == "all":
        parts = [_run(sub, node) for sub in test[1:]]
        passed = None if any(p[0] is None for p in parts) else all(p[0] for p in parts)
        return (passed, " && ".join(p[1] for p in parts), "; ".join(p[2] for p in parts),
                " and ".join(p[3] for p in parts))  # fmt: skip
    if kind in ("flag", "kubelet"):
        where, name, op, *want = test[1:] if kind == "flag" else ("KubeletConfiguration", *test[1:])
        values = node.flags.get(where, {}) if kind == "flag" else node.kubelet
        actual = values.get(name, _ABSENT) if kind == "flag" else _lookup(values, name)
        label = f"--{name}" if kind == "flag" else name
        shown = "(not set)" if actual is _ABSENT else f"{label}={actual}"
        expected = f"{label} {op} {want[0] if want else ''}".strip()
        return _compare(actual, op, *want), f"{where} flags" if kind == "flag" else where, shown, expected
    _, path, want = test
    found = node.files.get(path)
    if found is None:
        return None, f"stat {path}", "not found on the node", str(want)
    mode, owner = found
    if kind == "mode":
        expected = f"permissions has {want:o} or more restrictive"
        return mode & ~want == 0, f"stat -c %a {path}", f"permissions={mode:o}", expected
    return owner == want, f"stat -c %U:%G {path}", owner, want


def _result(check: Check, node: Node) -> dict[str, Any]:
    result = {"test_number": check.id, "test_desc": check.text, "audit": "", "AuditConfig": "", "type": "",
              "remediation": check.remediation, "test_info": [check.remediation], "status": "WARN",
              "actual_value": "", "scored": check.scored, "IsMultiple": False, "expected_result": "",
              "reason": ""}  # fmt: skip
    if check.test is None:
        return {**result, "type": "manual", "reason": "manual check: needs a person's review"}
    passed, audit, actual, expected = _run(check.test, node)
    status = "WARN" if passed is None else "PASS" if passed else "FAIL"
    reason = "nothing to judge on this node" if passed is None else ""
    return {**result, "audit": audit, "status": status, "actual_value": actual, "expected_result": expected,
            "reason": reason}  # fmt: skip


def report(control_plane: Node, worker: Node, detected_version: str) -> dict[str, Any]:
    """kube-bench's JSON report: controls 1-3 judged on the control-plane node, 4 on a worker, 5 manual."""
    controls = []
    totals = dict.fromkeys(STATUSES, 0)
    for control, (text, node_type) in CONTROLS.items():
        node = worker if control == "4" else control_plane
        sections: dict[str, list[dict[str, Any]]] = {}
        for check in CHECKS:
            if check.control == control:
                sections.setdefault(check.section, []).append(_result(check, node))
        tests = []
        for section, results in sections.items():
            counts = {status: sum(r["status"] == status for r in results) for status in STATUSES}
            tests.append({"section": section, "type": "", "pass": counts["PASS"], "fail": counts["FAIL"],
                          "warn": counts["WARN"], "info": counts["INFO"], "desc": SECTIONS[section],
                          "results": results})  # fmt: skip
            for status in STATUSES:
                totals[status] += counts[status]
        controls.append({"id": control, "version": VERSION, "detected_version": detected_version,
                         "text": text, "node_type": node_type, "tests": tests,
                         **{f"total_{s.lower()}": sum(t[s.lower()] for t in tests) for s in STATUSES}})  # fmt: skip
    return {"Controls": controls, "Totals": {f"total_{s.lower()}": n for s, n in totals.items()}}
