"""CIS scans of the images Strata builds, with OpenSCAP and the SCAP Security Guide: the benchmark for the
OS pack's distribution (or the one the pack names), evaluated by `oscap xccdf eval` on the builder against
the image's root (`OSCAP_PROBE_ROOT`), its XCCDF results read back into a report (each selected rule's id,
title, severity and result; totals; score), and the pack's policy (`os.scan.minScore`, `os.scan.mustPass`)
checked against it. A distribution with no benchmark content is reported as not scanned, never as passed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from strata_common.db.types import DbConnection

SCAP_CONTENT = Path("/usr/share/xml/scap/ssg/content")  # Debian's ssg-debderived and ssg-nondebian
RULE_PREFIX = "xccdf_org.ssgproject.content_rule_"
XCCDF = "{http://checklists.nist.gov/xccdf/1.2}"
CIS_L1 = "xccdf_org.ssgproject.content_profile_cis_level1_server"
CIS_SERVER_L1 = "xccdf_org.ssgproject.content_profile_cis_server_l1"
# (family, version) -> (benchmark, data stream, profile); packs may choose another profile of the same content
BENCHMARKS = {
    ("ubuntu", "22.04"): ("CIS Ubuntu 22.04 Level 1 Server", "ssg-ubuntu2204-ds.xml", CIS_L1),
    ("rhel", "9"): ("CIS Red Hat Enterprise Linux 9 Level 1 Server", "ssg-rhel9-ds.xml", CIS_SERVER_L1),
    ("centos", "9"): ("CIS CentOS Stream 9 Level 1 Server", "ssg-cs9-ds.xml", CIS_SERVER_L1),
}
UNSCANNED = ("notselected",)  # rules the profile does not select are left out of the report


@dataclass(frozen=True)
class Benchmark:
    name: str
    datastream: Path
    profile: str
    min_score: float | None = None
    must_pass: tuple[str, ...] = ()


@dataclass
class ScanReport:
    status: str  # scanned, or not-scanned (then `reason` says why)
    reason: str = ""
    benchmark: str = ""
    profile: str = ""
    score: float | None = None
    totals: dict[str, int] = field(default_factory=dict)
    rules: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        if self.status != "scanned":
            return f"not scanned: {self.reason}"
        counts = ", ".join(f"{n} {result}" for result, n in sorted(self.totals.items(), key=lambda i: -i[1]))
        return f"{self.benchmark}: {counts}; score {self.score:.1f}"


def short(rule: str) -> str:
    return rule.removeprefix(RULE_PREFIX)


def benchmark_for(os_pack: dict[str, Any]) -> Benchmark | None:
    """The benchmark an OS pack's images are scanned with: the pack's `os.scan` or its distribution's; None
    when there is no benchmark content for it (Ubuntu 24.04: none in Debian's SCAP Security Guide)."""
    os_ = os_pack["os"]
    chosen = os_.get("scan") or {}
    known = BENCHMARKS.get((os_["family"], os_["version"]))
    datastream = chosen.get("datastream") or (known[1] if known else None)
    if not datastream or not (SCAP_CONTENT / datastream).is_file():
        return None
    name = known[0] if known and known[1] == datastream else datastream.removesuffix("-ds.xml")
    profile = chosen.get("profile") or (known[2] if known else CIS_L1)
    return Benchmark(name, SCAP_CONTENT / datastream, profile, chosen.get("minScore"),
                     tuple(short(r) for r in chosen.get("mustPass", ())))  # fmt: skip


def read_results(path: Path, benchmark: Benchmark) -> ScanReport:
    """The report of `oscap xccdf eval --results` (XCCDF 1.2): rule titles from the benchmark, results and
    severities from the TestResult, the default score, the evaluation's time from its start and end."""
    titles: dict[str, str] = {}
    rules: list[dict[str, str]] = []
    score, seconds = None, 0.0
    for _, element in ET.iterparse(path, events=("end",)):
        if element.tag == f"{XCCDF}Rule":
            titles[element.get("id", "")] = (element.findtext(f"{XCCDF}title") or "").strip()
            element.clear()
        elif element.tag == f"{XCCDF}rule-result":
            result = element.findtext(f"{XCCDF}result") or "unknown"
            if result not in UNSCANNED:
                rule = element.get("idref", "")
                rules.append({"id": short(rule), "title": titles.get(rule, ""), "severity": element.get("severity",
                              "unknown"), "result": result})  # fmt: skip
            element.clear()
        elif element.tag == f"{XCCDF}score" and element.get("system") == "urn:xccdf:scoring:default":
            score = float(element.text or 0)
        elif element.tag == f"{XCCDF}TestResult" and element.get("start-time") and element.get("end-time"):
            started, ended = (datetime.fromisoformat(element.get(k, "")) for k in ("start-time", "end-time"))
            seconds = (ended - started).total_seconds()
    totals: dict[str, int] = {}
    for rule in rules:
        totals[rule["result"]] = totals.get(rule["result"], 0) + 1
    return ScanReport("scanned", "", benchmark.name, benchmark.profile, score, totals, rules, round(seconds, 3))


def shortfall(report: ScanReport, benchmark: Benchmark) -> list[str]:
    """What the pack's policy asks of the image and the scan did not find: each must-pass rule that did not
    pass (with its result), and a score under the minimum."""
    results = {rule["id"]: rule["result"] for rule in report.rules}
    missing = [f"{rule} ({results.get(rule, 'not in the profile')})" for rule in benchmark.must_pass
               if results.get(rule) != "pass"]  # fmt: skip
    if benchmark.min_score is not None and (report.score or 0) < benchmark.min_score:
        missing.append(f"score {report.score or 0:.1f} under the pack's minimum {benchmark.min_score:g}")
    return missing


def record_scan(conn: DbConnection, account: str, signature: str, report: ScanReport) -> None:
    """Keep the report with the image's signature (every copy of the image shares it)."""
    conn.execute(
        """
        INSERT INTO image_scans (cloud_account_id, signature, status, reason, benchmark, profile, score, totals,
                                 rules, seconds)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (cloud_account_id, signature) DO UPDATE SET status = EXCLUDED.status, reason = EXCLUDED.reason,
            benchmark = EXCLUDED.benchmark, profile = EXCLUDED.profile, score = EXCLUDED.score,
            totals = EXCLUDED.totals, rules = EXCLUDED.rules, seconds = EXCLUDED.seconds, scanned_at = now()
        """,
        (account, signature, report.status, report.reason or None, report.benchmark or None, report.profile or None,
         report.score, Jsonb(report.totals), Jsonb(report.rules), report.seconds),
    )  # fmt: skip


def stored_report(conn: DbConnection, account: str, signature: str) -> ScanReport | None:
    """The kept report of the image of this signature (of either status), or None."""
    row = conn.execute("SELECT * FROM image_scans WHERE cloud_account_id = %s AND signature = %s",
                       (account, signature)).fetchone()  # fmt: skip
    if row is None:
        return None
    return ScanReport(row["status"], row["reason"] or "", row["benchmark"] or "", row["profile"] or "", row["score"],
                      row["totals"], row["rules"], row["seconds"] or 0.0)  # fmt: skip
