"""Step handlers, registered per queue (service) and handler name.

A step named `handler/instance` (e.g. `ensure_node/cp-1`) runs the handler `handler`, so one
handler serves many steps of a plan.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from strata_common.queues import QUEUES

if TYPE_CHECKING:
    from strata_common.engine.runner import StepContext

Handler = Callable[["StepContext"], dict[str, Any] | None]

_handlers: dict[tuple[str, str], Handler] = {}


def step_handler(queue: str, name: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of step `name` on `queue`."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")

    def register(fn: Handler) -> Handler:
        existing = _handlers.get((queue, name))
        if existing is not None and existing is not fn:
            raise ValueError(f"step {name!r} on {queue!r} already has a handler: {existing.__qualname__}")
        _handlers[(queue, name)] = fn
        return fn

    return register


def handler_for(queue: str, step_name: str) -> Handler | None:
    """The handler of a step: by its full name, else by the part before '/'."""
    return _handlers.get((queue, step_name)) or _handlers.get((queue, step_name.split("/", 1)[0]))


def load_modules(names: str) -> None:
    """Import comma-separated modules whose import registers handlers (STRATA_HANDLER_MODULES)."""
    for name in filter(None, (n.strip() for n in names.split(","))):
        importlib.import_module(name)
