"""Plain values of the engine: step specs (what a plan asks for) and steps (what a row holds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from strata_common.engine.conditions import MILESTONES
from strata_common.queues import QUEUES

PENDING, READY, RUNNING, SUCCEEDED, FAILED, SUPERSEDED, CANCELLED = (
    "pending",
    "ready",
    "running",
    "succeeded",
    "failed",
    "superseded",
    "cancelled",
)
NOT_STARTED = (PENDING, READY, FAILED)
FINISHED = (SUCCEEDED, SUPERSEDED, CANCELLED)


@dataclass(frozen=True)
class StepSpec:
    """One step of a plan: run handler `name` on `queue` after the steps named in `depends_on`."""

    name: str
    queue: str
    condition: str | None = None
    depends_on: tuple[str, ...] = ()
    input: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.queue not in QUEUES:
            raise ValueError(f"step {self.name!r}: unknown queue {self.queue!r}")
        if self.condition is not None and self.condition not in MILESTONES:
            raise ValueError(f"step {self.name!r}: unknown condition {self.condition!r}")


@dataclass(frozen=True)
class Step:
    """A step row as a worker sees it once claimed."""

    id: int
    cluster_id: UUID
    generation: int
    name: str
    queue: str
    condition: str | None
    depends_on: list[str]
    status: str
    attempts: int
    claim_token: UUID | None
    input: dict[str, Any]
    output: dict[str, Any] | None
    last_error: str | None
    not_before: datetime
    lease_until: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Step:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    @property
    def kind(self) -> str:
        """The handler's name, without what the step is for: ensure_node for ensure_node/workers-3."""
        return self.name.split("/", 1)[0]


def validate_plan(specs: list[StepSpec]) -> None:
    """Names are unique, dependencies exist, and there is no cycle."""
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"plan has duplicate step names: {sorted(n for n in set(names) if names.count(n) > 1)}")
    deps = {s.name: set(s.depends_on) for s in specs}
    for name, needs in deps.items():
        unknown = needs - deps.keys()
        if unknown:
            raise ValueError(f"step {name!r} depends on unknown steps {sorted(unknown)}")
    done: set[str] = set()
    while len(done) < len(deps):
        free = {n for n, needs in deps.items() if n not in done and needs <= done}
        if not free:
            raise ValueError(f"plan has a dependency cycle among {sorted(set(deps) - done)}")
        done |= free
