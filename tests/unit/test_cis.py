"""The CIS Kubernetes Benchmark checks on kubeadm node models, and kube-bench's JSON report read into one
model, whether Strata wrote it or a real kube-bench Job did."""

from __future__ import annotations

import json

import pytest

from strata_common.cis import evaluate, kubebench
from strata_common.cis.nodes import node

CLUSTER = {"kind": "ClusterConfiguration", "apiServer": {"extraArgs": [
    {"name": "anonymous-auth", "value": "false"}, {"name": "profiling", "value": "false"},
    {"name": "audit-log-path", "value": "/var/log/kubernetes/audit.log"},
    {"name": "audit-log-maxage", "value": "7"}]}}  # fmt: skip
KUBELET = {"kind": "KubeletConfiguration", "readOnlyPort": 10255, "podPidsLimit": 4096}
# A report as `kube-bench run --targets node --json` writes it (v0.8-v0.10 shape), shortened to two checks
KUBE_BENCH = {
    "Controls": [{
        "id": "4", "version": "cis-1.9", "detected_version": "1.32", "text": "Worker Node Security Configuration",
        "node_type": "node", "tests": [{
            "section": "4.1", "type": "", "pass": 1, "fail": 1, "warn": 0, "info": 0,
            "desc": "Worker Node Configuration Files", "results": [
                {"test_number": "4.1.1", "test_desc": "Ensure that the kubelet service file permissions are set to 600 "
                 "or more restrictive (Automated)", "audit": "/bin/sh -c 'if test -e $kubeletsvc; then stat -c "
                 "permissions=%a $kubeletsvc; fi' ", "AuditEnv": "", "AuditConfig": "", "type": "",
                 "remediation": "Run the below command (based on the file location on your system) on the each worker "
                 "node.\nFor example, chmod 600 /etc/systemd/system/kubelet.service.d/10-kubeadm.conf\n",
                 "test_info": ["Run the below command ..."], "status": "FAIL", "actual_value": "permissions=644",
                 "scored": True, "IsMultiple": False,
                 "expected_result": "permissions has permissions 644, expected 600 or more restrictive", "reason": ""},
                {"test_number": "4.1.5", "test_desc": "Ensure that the --kubeconfig kubelet.conf file permissions are "
                 "set to 600 or more restrictive (Automated)",
                 "audit": "stat -c permissions=%a /etc/kubernetes/kubelet.conf",
                 "AuditEnv": "", "AuditConfig": "", "type": "", "remediation": "chmod 600 /etc/kubernetes/kubelet.conf",
                 "test_info": ["chmod 600 /etc/kubernetes/kubelet.conf"], "status": "PASS",
                 "actual_value": "permissions=600", "scored": True, "IsMultiple": False,
                 "expected_result": "permissions has permissions 600, expected 600 or more restrictive",
                 "reason": ""}]}],
        "total_pass": 1, "total_fail": 1, "total_warn": 0, "total_info": 0}],
    "Totals": {"total_pass": 1, "total_fail": 1, "total_warn": 0, "total_info": 0},
}  # fmt: skip


def statuses(report: dict) -> dict[str, str]:
    return {r.id: r.status for r in kubebench.parse(report).results}


def test_checks_judge_the_flags_and_kubelet_settings_kubeadm_and_the_pack_give():
    report = evaluate.report(node([CLUSTER], CLUSTER), node([KUBELET], None), "1.32")
    found = statuses(report)
    assert found["1.2.1"] == found["1.2.15"] == found["1.2.16"] == "PASS"  # the pack's extraArgs
    assert found["1.2.7"] == found["1.2.8"] == found["1.3.7"] == found["2.2"] == "PASS"  # kubeadm's own flags
    assert found["1.2.17"] == "FAIL"  # audit-log-maxage 7 < 30
    assert found["1.4.1"] == "FAIL"  # the scheduler's profiling is on: kubeadm's default
    assert found["4.2.4"] == "FAIL" and found["4.2.13"] == "PASS"  # read-only port open; pids limited
    assert found["4.1.1"] == "WARN"  # the kubelet's systemd drop-in is not one of kubeadm's files
    assert found["5.1.1"] == "WARN"  # policies need a person
    totals = report["Totals"]
    assert sum(totals.values()) == len(found) and totals["total_info"] == 0
    for control in report["Controls"]:
        assert control["total_fail"] == sum(t["fail"] for t in control["tests"])


def test_a_real_kube_bench_report_reads_into_the_same_model(tmp_path):
    written = tmp_path / "kube-bench.json"
    written.write_text(json.dumps(KUBE_BENCH))
    theirs = kubebench.parse(json.loads(written.read_text()))
    assert [(r.id, r.status, r.node_type, r.section, r.actual) for r in theirs.results] == [
        ("4.1.1", "FAIL", "node", "4.1", "permissions=644"),
        ("4.1.5", "PASS", "node", "4.1", "permissions=600")]  # fmt: skip
    assert theirs.totals == {"pass": 1, "fail": 1, "warn": 0, "info": 0} and theirs.version == "cis-1.9"
    ours = kubebench.parse(evaluate.report(node([CLUSTER], CLUSTER), node([KUBELET], None), "1.32"))
    assert type(ours) is type(theirs) and ours.version == theirs.version
    assert kubebench.parse([KUBE_BENCH, KUBE_BENCH]).totals["fail"] == 2  # one report per node, read as one
    with pytest.raises(kubebench.ReportError, match="Controls"):
        kubebench.parse({"controls": []})
    with pytest.raises(kubebench.ReportError, match="status"):
        kubebench.parse({"Controls": [{"tests": [{"results": [{"test_number": "1", "status": "OK"}]}]}]})
