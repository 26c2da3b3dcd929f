"""Commands: the API's rules beyond the schemas. A command takes a unit of work (one transaction of
one project) and validated input, checks what the schema cannot, writes the desired state, plans the
steps that make it so, and has them published once the transaction commits. Views only parse,
call one command and reply; tests can call a command without HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from strata_api.errors import ApiError
from strata_common.config import Settings
from strata_common.db.types import DbConnection
from strata_common.engine.publish import Publisher
from strata_common.planner import Plan
from strata_common.plans import submit


@dataclass
class Work:
    conn: DbConnection
    project_id: UUID
    settings: Settings
    ready: list[dict[str, Any]] = field(default_factory=list)

    def plan(self, cluster_id: UUID, generation: int, plan: Plan) -> None:
        """Insert the plan's steps and machines in this transaction; ready steps are published after it commits."""
        self.ready += submit(self.conn, cluster_id, generation, plan, self.settings.step_ready_grace)


@contextmanager
def unit_of_work(conn: DbConnection, project_id: UUID, settings: Settings, publisher: Publisher) -> Iterator[Work]:
    """One transaction for a command; its ready steps are published only once it has committed."""
    work = Work(conn, project_id, settings)
    with conn.transaction():
        yield work
    publisher.publish(work.ready)


def invalid(problems: dict[str, str]) -> None:
    """422 naming every field at fault (the first one in the message), if there are any."""
    if problems:
        field_, reason = next(iter(problems.items()))
        raise ApiError(422, "invalid", f"{field_}: {reason}", problems)
