"""kube-bench's JSON report (`kube-bench --json`: Controls -> tests -> results, and Totals) read into one
model, whoever wrote it: Strata's own evaluation, or a real kube-bench Job on a cluster of a real cloud."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STATUSES = ("PASS", "FAIL", "WARN", "INFO")


class ReportError(ValueError):
    """Not a kube-bench JSON report; the message says what is missing."""


@dataclass(frozen=True)
class CheckResult:
    id: str
    text: str
    status: str
    scored: bool
    section: str
    node_type: str
    remediation: str
    actual: str
    reason: str


@dataclass(frozen=True)
class BenchReport:
    version: str
    results: tuple[CheckResult, ...]
    totals: dict[str, int]


def parse(document: Any) -> BenchReport:
    """The report `document` (parsed JSON) holds; a report of several nodes (a list) is read as one."""
    documents = document if isinstance(document, list) else [document]
    results, version = [], ""
    for each in documents:
        if not isinstance(each, dict) or not isinstance(each.get("Controls"), list):
            raise ReportError("a kube-bench report has a list of Controls")
        for control in each["Controls"]:
            version = version or str(control.get("version", ""))
            for test in control.get("tests") or []:
                for result in test.get("results") or []:
                    status = str(result.get("status", "")).upper()
                    if status not in STATUSES or "test_number" not in result:
                        raise ReportError(f"result {result.get('test_number', '?')}: status must be one of "
                                          f"{', '.join(STATUSES)}")  # fmt: skip
                    results.append(CheckResult(
                        str(result["test_number"]), str(result.get("test_desc", "")), status,
                        bool(result.get("scored", True)), str(test.get("section", "")),
                        str(control.get("node_type", "")), str(result.get("remediation", "")),
                        str(result.get("actual_value", "")), str(result.get("reason", ""))))  # fmt: skip
    totals = {status.lower(): sum(r.status == status for r in results) for status in STATUSES}
    return BenchReport(version, tuple(results), totals)
