"""Run child processes with prefixed, coloured logs; restart the ones that die; stop them all cleanly.

Each child's whole output goes to `<log_dir>/<name>.log` (one rotation at LOG_BYTES); the terminal gets what a
person needs: starts and stops, warnings and errors, and the supervisor's own lines (the demo's progress),
or everything with `verbose`."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

COLORS = ("36", "32", "33", "35", "34", "31", "96", "92", "93")
LOG_BYTES = 10 * 1024 * 1024  # a component's log is rotated once (to .1) past this size
# Python's logging levels, Tornado's (Flower) and Redis' warning marks, tracebacks: what the terminal shows
IMPORTANT = re.compile(r"\b(WARNING|ERROR|CRITICAL|FATAL)\b|^\[[WEC] |^Traceback|^\S+Error: | # WARNING")


class LogFile:
    """A component's log file, appended to, rotated once past LOG_BYTES."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")

    def write(self, line: str) -> None:
        self._file.write(line if line.endswith("\n") else line + "\n")
        self._file.flush()
        if self._file.tell() > LOG_BYTES:
            self._file.close()
            self.path.replace(self.path.with_name(self.path.name + ".1"))
            self._file = self.path.open("a", encoding="utf-8")

    def close(self) -> None:
        self._file.close()


def use_color(stream: TextIO) -> bool:
    """Colour when writing to a terminal, unless NO_COLOR is set; FORCE_COLOR forces it."""
    if os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or stream.isatty()


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    env: dict[str, str]
    color: str = "1"
    proc: subprocess.Popen[str] | None = None
    restarts: int = 0
    restart_at: float = 0.0
    pumps: list[threading.Thread] = field(default_factory=list)
    log: LogFile | None = None


class Supervisor:
    """Starts children in their own process groups and multiplexes their output to one stream."""

    def __init__(self, out: TextIO = sys.stdout, grace: float = 20.0, log_dir: Path | None = None,
                 verbose: bool = True):  # fmt: skip
        self.out = out
        self.grace = grace
        self.log_dir, self.verbose = log_dir, verbose
        self.children: list[Child] = []
        self._color = use_color(out)
        self._lock = threading.Lock()
        self._width = 12
        self.stopping = threading.Event()

    def say(self, name: str, line: str, color: str = "1") -> None:
        prefix = f"{name:<{self._width}}|"
        if self._color:
            prefix = f"\x1b[{color}m{prefix}\x1b[0m"
        with self._lock:
            self.out.write(f"{prefix} {line.rstrip()}\n")
            self.out.flush()

    def add(self, name: str, argv: Sequence[str], env: dict[str, str]) -> Child:
        child = Child(name, list(argv), env, COLORS[len(self.children) % len(COLORS)])
        if self.log_dir is not None:
            child.log = LogFile(self.log_dir / f"{name}.log")
        self.children.append(child)
        self._width = max(self._width, len(name) + 1)
        self._start(child)
        return child

    def _start(self, child: Child) -> None:
        child.proc = subprocess.Popen(
            child.argv,
            env=child.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # its own process group: a terminal's Ctrl-C reaches only us
        )
        pump = threading.Thread(target=self._pump, args=(child, child.proc), daemon=True)
        pump.start()
        child.pumps = [pump]
        if not self.verbose:
            where = f", log {child.log.path}" if child.log else ""
            self.say(child.name, f"started (pid {child.proc.pid}{where})", child.color)

    def _pump(self, child: Child, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if child.log is not None:
                child.log.write(line)
            if self.verbose or IMPORTANT.search(line):
                self.say(child.name, line, child.color)

    def pids(self) -> dict[str, int]:
        return {c.name: c.proc.pid for c in self.children if c.proc is not None}

    def watch(self) -> None:
        """Until stop is requested: restart children that exit, with capped exponential backoff."""
        while not self.stopping.wait(0.2):
            now = time.monotonic()
            for child in self.children:
                assert child.proc is not None
                code = child.proc.poll()
                if code is None:
                    continue
                if child.restart_at == 0.0:
                    delay = min(30.0, 2.0**child.restarts)
                    self.say(child.name, f"exited with status {code}; restarting in {delay:.0f}s", child.color)
                    child.restart_at = now + delay
                elif now >= child.restart_at:
                    child.restarts += 1
                    child.restart_at = 0.0
                    self._start(child)

    def stop(self, order: Sequence[str] | None = None) -> None:
        """SIGTERM each child (graceful), wait up to `grace` seconds, then SIGKILL its whole group."""
        self.stopping.set()
        names = list(order) if order else [c.name for c in self.children]
        by_name = {c.name: c for c in self.children}
        for name in names:
            child = by_name[name]
            if child.proc and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for name in names:
            child = by_name[name]
            assert child.proc is not None
            try:
                child.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(name, f"did not stop in {self.grace:.0f}s; killing it", child.color)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.proc.pid, signal.SIGKILL)  # leftovers of its group (pool children)
            child.proc.wait()
            for pump in child.pumps:
                pump.join(timeout=2)
            if child.log is not None:
                child.log.close()
            if not self.verbose:
                self.say(name, f"stopped (status {child.proc.returncode})", child.color)
