"""`strata logs COMPONENT [-f]`: a component's log as `strata up` keeps it (`<state dir>/logs/<component>.log`),
whole or followed."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from strata_cli.client import CliError
from strata_cli.up import state_dir_of


def run_logs(component: str, follow: bool) -> int:
    path = state_dir_of(dict(os.environ)) / "logs" / f"{component}.log"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.log")) if path.parent.is_dir() else []
        raise CliError(f"no log of {component!r} at {path}" + (f" (there are: {', '.join(known)})" if known else ""))
    with path.open(encoding="utf-8", errors="replace") as log:
        sys.stdout.write(log.read())
        while follow:
            line = log.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
            elif _rotated(path, log.tell()):
                return run_logs(component, follow)
            else:
                time.sleep(0.2)
    return 0


def _rotated(path: Path, read: int) -> bool:
    """The file was rotated (it is shorter than what was read of it)."""
    return not path.exists() or path.stat().st_size < read
