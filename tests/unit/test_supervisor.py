"""What `strata up` shows: by default starts, stops, warnings and errors on the terminal and every line in
the component's log file; with --verbose every line on the terminal too. And the JSON log format."""

from __future__ import annotations

import io
import json
import logging
import sys

from strata_cli.supervisor import Supervisor
from strata_common.logs import log_context, setup_logging

CHATTY = (
    "import sys; print('2026-12-05 07:00:00,000 INFO celery: ready'); "
    "print('2026-12-05 07:00:01,000 WARNING strata: the database is slow'); "
    "print('Traceback (most recent call last):'); print('ValueError: bad'); sys.exit(0)"
)


def run(tmp_path, verbose: bool) -> str:
    out = io.StringIO()
    sup = Supervisor(out, grace=5, log_dir=tmp_path / "logs", verbose=verbose)
    child = sup.add("worker", [sys.executable, "-c", CHATTY], {})
    assert child.proc is not None
    child.proc.wait(10)
    sup.stop()
    return out.getvalue()


def test_by_default_the_terminal_shows_starts_stops_warnings_and_errors_and_the_file_has_everything(tmp_path):
    shown = run(tmp_path, verbose=False)
    assert "INFO celery: ready" not in shown
    assert "WARNING strata: the database is slow" in shown
    assert "Traceback (most recent call last):" in shown and "ValueError: bad" in shown
    assert "started (pid " in shown and f"log {tmp_path / 'logs' / 'worker.log'}" in shown
    assert "stopped (status 0)" in shown
    logged = (tmp_path / "logs" / "worker.log").read_text()
    assert "INFO celery: ready" in logged and "ValueError: bad" in logged


def test_verbose_shows_every_line(tmp_path):
    shown = run(tmp_path, verbose=True)
    assert "INFO celery: ready" in shown and "started (pid" not in shown


def test_json_logs_carry_the_cluster_and_step_of_the_step_being_run(capsys):
    setup_logging("INFO", "json")
    try:
        with log_context(cluster="c-1", step="ensure_node/cp-0"):
            logging.getLogger("strata.test").warning("slow %s", "cloud")
        logging.getLogger("strata.test").info("outside")
    finally:
        setup_logging("INFO")
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert (first["level"], first["message"], first["cluster"], first["step"]) == (
        "WARNING", "slow cloud", "c-1", "ensure_node/cp-0")  # fmt: skip
    assert second["message"] == "outside" and "cluster" not in second
