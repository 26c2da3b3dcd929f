"""Running an image's roles with ansible-runner: a private data dir per build with the roles, a
generated playbook, inventory and extra vars; each task's result is handed to a callback. A second
play scans the customized root with OpenSCAP on the builder and fetches the results back."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

from strata_imagebuilder.scans import Benchmark, ScanReport, read_results

RESULTS = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_skipped": "skipped",
           "runner_on_unreachable": "unreachable"}  # fmt: skip


@dataclass(frozen=True)
class TaskResult:
    task: str
    host: str
    status: str  # ok, changed, skipped, failed, unreachable
    message: str


class PlaybookFailed(Exception):
    def __init__(self, failed: TaskResult | None, status: str):
        where = f"task {failed.task!r} on {failed.host} failed: {failed.message}" if failed else f"ansible {status}"
        super().__init__(where)
        self.failed = failed


def _result(event: dict[str, Any]) -> TaskResult | None:
    status = RESULTS.get(event.get("event", ""))
    if status is None:
        return None
    data = event.get("event_data", {})
    res = data.get("res", {}) or {}
    if status == "ok" and res.get("changed"):
        status = "changed"
    message = str(res.get("msg") or res.get("stderr") or "").strip()
    if status == "failed" and data.get("ignore_errors"):
        status = "ok"
    return TaskResult(data.get("task", "?"), data.get("host", "?"), status, message[:2000])


def _ansible_on_path() -> None:
    """ansible-runner starts `ansible-playbook` from PATH: the one installed beside this Python."""
    here = str(Path(sys.executable).parent)
    if here not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join(filter(None, (here, os.environ.get("PATH"))))


def scan_play(benchmark: Benchmark, results: Path) -> dict[str, Any]:
    """Evaluate the benchmark on the builder against the image's root and fetch the XCCDF results to `results`
    (the content is copied over: a builder needs only the scanner). No scanner there: nothing runs."""
    found = "scanner.rc == 0"
    work = "{{ scan_dir.path }}"
    return {"name": "Scan the image", "hosts": "builder", "gather_facts": False, "tasks": [
        {"name": "Scan | Find the OpenSCAP scanner", "ansible.builtin.command": "oscap --version",
         "register": "scanner", "changed_when": False, "failed_when": False},
        {"name": "Scan | Working folder", "ansible.builtin.tempfile": {"state": "directory", "prefix": "strata-scan-"},
         "register": "scan_dir", "when": found},
        {"name": "Scan | Benchmark content", "when": found,
         "ansible.builtin.copy": {"src": str(benchmark.datastream), "dest": f"{work}/ds.xml", "mode": "0600"}},
        {"name": f"Scan | {benchmark.name}", "when": found, "register": "evaluated", "changed_when": False,
         "failed_when": "evaluated.rc not in [0, 2]",  # 2: some rules failed
         "environment": {"OSCAP_PROBE_ROOT": "{{ image_root }}"},
         "ansible.builtin.command": {"argv": ["oscap", "xccdf", "eval", "--profile", benchmark.profile,
                                              "--results", f"{work}/results.xml", f"{work}/ds.xml"]}},
        {"name": "Scan | Fetch the results", "when": found,
         "ansible.builtin.fetch": {"src": f"{work}/results.xml", "dest": str(results), "flat": True}},
        {"name": "Scan | Remove the working folder", "when": found,
         "ansible.builtin.file": {"path": work, "state": "absent"}},
    ]}  # fmt: skip


def run_roles(
    host: str, connection: dict[str, Any], roles: list[str], role_files: dict[str, str], variables: dict[str, Any],
    on_task: Callable[[TaskResult], None], private_key: str = "", scan: Benchmark | None = None,
) -> ScanReport | None:  # fmt: skip
    """Run `roles` (files by path "roles/<role>/...") against one host, then scan its root with `scan`;
    raise PlaybookFailed on failure. Over SSH, `private_key` is the builder's key (in a 0600 file inside
    the run's folder while it runs). The scan's report (None without a benchmark)."""
    results: list[TaskResult] = []

    def handle(event: dict[str, Any]) -> bool:
        result = _result(event)
        if result is not None:
            results.append(result)
            on_task(result)
        return True

    _ansible_on_path()
    with tempfile.TemporaryDirectory(prefix="strata-build-") as work:
        project = Path(work) / "project"
        project.mkdir()
        for path, text in role_files.items():
            target = project / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        play = [{"name": "Customize the image", "hosts": "builder", "gather_facts": False, "roles": roles}]
        scanned = Path(work) / "scan" / "results.xml"
        if scan is not None:
            play.append(scan_play(scan, scanned))
        (project / "image.yml").write_text(yaml.safe_dump(play, sort_keys=False))
        over_ssh = connection.get("ansible_connection") == "ssh"
        hostvars: dict[str, Any] = {"ansible_python_interpreter": "auto_silent" if over_ssh else sys.executable,
                                    **connection}  # fmt: skip
        if over_ssh:
            key_file = Path(work) / "builder_key"
            key_file.touch(mode=0o600)
            key_file.write_text(private_key)
            hostvars["ansible_ssh_private_key_file"] = str(key_file)
            # a new builder's host key is unknown: trust it on first use, as Packer does, and forget it
            hostvars["ansible_ssh_common_args"] = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
        inventory = {"all": {"children": {"builder": {"hosts": {host: hostvars}}}}}
        runner = ansible_runner.run(
            private_data_dir=work, playbook="image.yml", inventory=inventory, extravars=variables,
            event_handler=handle, quiet=True,
            envvars={"ANSIBLE_ROLES_PATH": str(project / "roles"), "ANSIBLE_NOCOLOR": "1"},
        )  # fmt: skip
        if runner.status != "successful" or runner.rc != 0:
            raise PlaybookFailed(next((r for r in results if r.status in ("failed", "unreachable")), None),
                                 f"{runner.status} (rc {runner.rc})")  # fmt: skip
        if scan is None:
            return None
        if not scanned.is_file():
            return ScanReport("not-scanned", "no OpenSCAP scanner (oscap) on the builder", scan.name, scan.profile)
        return read_results(scanned, scan)
