"""Whether a process is still running, by its PID (what a supervisor and a stale-file sweep ask)."""

from __future__ import annotations

import os


def pid_alive(pid: int | None) -> bool:
    """True while a process `pid` exists (including one of another user)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
