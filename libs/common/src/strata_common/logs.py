"""Logging set-up shared by every Strata process."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str) -> None:
    """Log to stderr at `level` in one format for all processes."""
    logging.basicConfig(level=level, format=FORMAT, force=True)
