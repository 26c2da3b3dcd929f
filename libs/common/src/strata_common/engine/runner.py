"""Claim one step, run its handler with a heartbeat on the lease, and record the outcome."""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from strata_common.config import Settings
from strata_common.db.types import DbConnection, DbPool
from strata_common.engine import steps
from strata_common.engine.conditions import FALSE, TRUE, UNKNOWN, mark_in_progress, mark_waiting, set_condition
from strata_common.engine.errors import TRANSIENT, USER_FIXABLE, ClaimLost, Retry, StepError
from strata_common.engine.events import append_event
from strata_common.engine.liveness import CHECK_SECONDS, Liveness
from strata_common.engine.model import Step
from strata_common.engine.publish import Publisher
from strata_common.engine.registry import handler_for
from strata_common.logs import OutageWarning, log_context
from strata_common.metrics.engine import (
    CLAIM_CONFLICTS,
    CLAIMS_LOST,
    STEP_DURATION,
    STEPS_CLAIMED,
    STEPS_FAILED,
    STEPS_REQUEUED,
    STEPS_SUCCEEDED,
)
from strata_common.model.cluster import ClusterSpec

log = logging.getLogger(__name__)
_liveness_lost = OutageWarning(log)
PAUSED_RECHECK_SECONDS = 3600.0


def backoff_delay(attempts: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Capped exponential backoff with jitter: between half and all of min(cap, base * 2^(attempts-1))."""
    ceiling = min(cap, base * 2 ** max(0, attempts - 1))
    return ceiling / 2 + rand() * ceiling / 2


def _missing(what: str) -> Callable[..., Any]:
    def refuse(*_: Any) -> Any:
        raise StepError("NoDependency", f"this service gives its steps no {what}", USER_FIXABLE)

    return refuse


@dataclass(frozen=True)
class Dependencies:
    """How handlers reach the world outside the database: `driver(cloud_type, account_id)` a cloud driver,
    `kube(access)` a Kubernetes client, `clock()` the time in seconds. A service passes the real ones;
    a test passes fakes and runs handlers in-process. The engine knows neither clouds nor Kubernetes."""

    driver: Callable[[str, str], Any] = field(default=_missing("cloud driver"))
    kube: Callable[[Any], Any] = field(default=_missing("Kubernetes client"))
    clock: Callable[[], float] = time.monotonic


@dataclass
class StepContext:
    """What a handler gets: its step, the cluster, a database pool, its dependencies, and ways to report."""

    step: Step
    cluster: dict[str, Any]
    db: DbPool
    settings: Settings
    service: str
    deps: Dependencies = field(default_factory=Dependencies)
    lost: threading.Event = field(default_factory=threading.Event)
    with_success: list[Callable[[DbConnection], None]] = field(default_factory=list)

    @cached_property
    def spec(self) -> ClusterSpec:
        """The cluster's typed spec, read once per step (when a handler first asks)."""
        return ClusterSpec.from_json(self.cluster["spec"])

    def heartbeat(self) -> None:
        """Extend the lease now (the runner also does it for every running step each lease/3 seconds)."""
        with self.db.connection() as conn:
            if not steps.heartbeat(conn, self.step, self.settings.step_lease_seconds):
                self.lost.set()

    def held(self) -> None:
        """Raise ClaimLost unless this run still holds its step (asked of the database now, the lease
        extended): a run taken over after its lease ran out must not go on to a change the run that took it
        over makes too (a second image of one build). Call before such a change."""
        if not self.lost.is_set():
            self.heartbeat()
        if self.lost.is_set():
            raise ClaimLost(f"step {self.step.name} was taken over by another run")

    def on_success(self, write: Callable[[DbConnection], None]) -> None:
        """Run `write` in the transaction that records this step's success, so what it changes (a phase)
        becomes visible together with the step's conditions, and only if the step still holds its claim."""
        self.with_success.append(write)

    def note(self, **data: Any) -> None:
        """Record `data` in the step's output now, in its own transaction (it survives a crash)."""
        with self.db.connection() as conn:
            if not steps.note(conn, self.step, data):
                self.lost.set()

    def kill_point(self, where: str) -> None:
        """Test-only crash hook: SIGKILL this process once at `where` when STRATA_TEST_KILL_AT names it.

        STRATA_TEST_KILL_AT is "<step name>@<where>@<marker file>", several separated by commas;
        each marker makes its hook fire once.
        """
        for hook in filter(None, os.environ.get("STRATA_TEST_KILL_AT", "").split(",")):
            if hook.count("@") != 2:
                continue
            name, point, marker = hook.split("@")
            if name == self.step.name and point == where and not os.path.exists(marker):
                open(marker, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)

    def event(self, level: str, reason: str, message: str, data: dict[str, Any] | None = None) -> None:
        """Append an event to the cluster's stream in a transaction of its own."""
        with self.db.connection() as conn:
            append_event(conn, self.step.cluster_id, level, self.service, reason, message, data, self.step.id)


class _LeaseKeeper:
    """One thread per process that extends the leases of the steps this process is running."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, StepContext] = {}
        self._thread: threading.Thread | None = None
        self._pid = 0

    @contextmanager
    def holding(self, ctx: StepContext) -> Iterator[None]:
        with self._lock:
            if self._thread is None or self._pid != os.getpid():  # first use, or we are a forked child
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
                self._thread.start()
            self._running[ctx.step.id] = ctx
        try:
            yield
        finally:
            with self._lock:
                self._running.pop(ctx.step.id, None)

    def _run(self) -> None:
        beaten: dict[int, float] = {}  # step id -> when its lease was last extended
        while True:
            try:
                _liveness.check()
            except Exception as err:  # the database is away: leases guard the steps meanwhile
                _liveness_lost("cannot take this process's liveness lock again yet", err)
            with self._lock:
                held = list(self._running.values())
            now = time.monotonic()
            for ctx in held:
                if now - beaten.get(ctx.step.id, 0.0) < ctx.settings.step_lease_seconds / 3:
                    continue
                try:
                    ctx.heartbeat()
                    beaten[ctx.step.id] = now
                except Exception:
                    log.exception("heartbeat of step %s failed", ctx.step.id)
            held_ids = {ctx.step.id for ctx in held}
            beaten = {step: at for step, at in beaten.items() if step in held_ids}
            time.sleep(min([CHECK_SECONDS, *(c.settings.step_lease_seconds / 3 for c in held)]))


_leases = _LeaseKeeper()
_liveness = Liveness()


def run_step(
    step_id: int, *, pool: DbPool, settings: Settings, publisher: Publisher, service: str, worker: str,
    deps: Dependencies | None = None,
) -> str:  # fmt: skip
    """Run step `step_id` if it can be claimed; return what happened (for logs and tests)."""
    owner = _liveness.owner(settings.database_url)
    with pool.connection() as conn:
        claimed = steps.claim(conn, step_id, worker, settings.step_lease_seconds, owner)
        if claimed is None:
            CLAIM_CONFLICTS.labels(service).inc()
            return "not-claimed"
        step, cluster = claimed
        STEPS_CLAIMED.labels(service, step.kind).inc()
        if cluster["paused"]:  # no step of a paused cluster runs; resuming makes its steps due again
            outcome = "requeued" if steps.requeue(conn, step, PAUSED_RECHECK_SECONDS) else "lost"
            _count(service, step, outcome, 0.0)
            return "paused" if outcome == "requeued" else outcome
        if step.condition:
            mark_in_progress(conn, step.cluster_id, step.condition, step.name, step.generation)
    ctx = StepContext(step, cluster, pool, settings, service, deps or Dependencies())
    started = time.monotonic()
    with log_context(cluster=str(step.cluster_id), step=step.name):  # on each line the step logs (JSON format)
        try:
            outcome = _run_claimed(ctx, publisher)
        except Exception:  # its outcome could not be recorded (the database away): its lease runs out, and
            _count(service, step, "lost", time.monotonic() - started)  # another run takes the step over
            raise
    _count(service, step, outcome, time.monotonic() - started)
    return outcome


def _count(service: str, step: Step, outcome: str, seconds: float) -> None:
    """The step's outcome in the metrics (a failure's reason and class are counted where it is recorded).
    A run whose claim passed to another worker (its lease ran out), or whose outcome could not be recorded,
    counts as lost, whatever its handler did."""
    if outcome == "lost":
        CLAIMS_LOST.labels(service, step.kind).inc()
    elif outcome == "succeeded":
        STEPS_SUCCEEDED.labels(service, step.kind).inc()
    elif outcome == "requeued":
        STEPS_REQUEUED.labels(service, step.kind).inc()
    STEP_DURATION.labels(service, step.kind, outcome).observe(seconds)


def _run_claimed(ctx: StepContext, publisher: Publisher) -> str:
    """Run the handler of a claimed step and record what came of it."""
    step, pool, settings, service = ctx.step, ctx.db, ctx.settings, ctx.service
    handler = handler_for(step.queue, step.name)
    started = time.monotonic()
    try:
        if handler is None:
            raise StepError("NoHandler", f"no handler for step {step.name!r} on queue {step.queue!r}", USER_FIXABLE)
        with _leases.holding(ctx):
            output = handler(ctx) or {}
    except ClaimLost as lost:
        log.warning("%s; this run stops", lost)
        return "lost"
    except Retry as wait:
        with pool.connection() as conn:
            grace = settings.step_ready_grace if publisher.sends_later(wait.after) else 0.0
            requeued = steps.requeue(conn, step, wait.after, grace, time.monotonic() - started)
            if requeued and step.condition and wait.message:
                mark_waiting(conn, step.cluster_id, step.condition, wait.message, step.generation)
        if not requeued:
            return "lost"
        publisher.publish_later(step, wait.after)
        return "requeued"
    except StepError as err:
        return _record_failure(pool, publisher, settings, service, step, err.reason, err.message, err.error_class,
                               time.monotonic() - started, err.not_sooner)  # fmt: skip
    except Exception as err:
        log.exception("step %s (%s) raised", step.id, step.name)
        message = str(err) or repr(err)
        return _record_failure(pool, publisher, settings, service, step, type(err).__name__, message, TRANSIENT,
                               time.monotonic() - started)  # fmt: skip
    elapsed = time.monotonic() - started
    with pool.connection() as conn:
        ready = _record_success(conn, settings, service, step, output, elapsed, ctx.with_success)
    if ready is None:
        return "lost"
    publisher.publish(ready)
    return "succeeded"


def _record_success(
    conn: DbConnection, settings: Settings, service: str, step: Step, output: dict[str, Any], elapsed: float,
    writes: list[Callable[[DbConnection], None]],
) -> list[dict[str, Any]] | None:  # fmt: skip
    """One transaction: event first (it locks the cluster row: cluster before steps, as the API does), then
    the step, its dependents, the handler's own writes and the conditions."""
    append_event(
        conn,
        step.cluster_id,
        "info",
        service,
        "StepSucceeded",
        f"{step.name} succeeded (attempt {step.attempts}, {elapsed:.2f}s)",
        {"step": step.name, "attempt": step.attempts, "seconds": round(elapsed, 3)},
        step.id,
    )
    if not steps.succeed(conn, step, output, elapsed):
        conn.rollback()
        log.warning("step %s finished but its claim was lost; another worker owns it", step.id)
        return None
    ready = steps.unblock_dependents(conn, step, settings.step_ready_grace)
    for write in writes:
        write(conn)
    milestone, done, failing = steps.generation_state(conn, step)
    if step.condition and milestone:  # a handler may say what its milestone came to (a scan's totals)
        said = str(output.get("conditionMessage", ""))
        set_condition(conn, step.cluster_id, step.condition, TRUE, "Succeeded", said, step.generation)
    if done:
        set_condition(conn, step.cluster_id, "Ready", TRUE, "Reconciled", "", step.generation)
    elif not failing:
        set_condition(
            conn, step.cluster_id, "Ready", UNKNOWN, "Reconciling", f"generation {step.generation}", step.generation
        )
    return ready


def _record_failure(
    pool: DbPool, publisher: Publisher, settings: Settings, service: str, step: Step, reason: str,
    message: str, error_class: str, worked: float, not_sooner: float = 0.0,
) -> str:  # fmt: skip
    delay = max(backoff_delay(step.attempts, settings.step_backoff_base, settings.step_backoff_cap), not_sooner)
    shown = f"{message} (step {step.name}, attempt {step.attempts}; {error_class}; next try in {delay:.0f}s)"
    with pool.connection() as conn:
        append_event(
            conn,
            step.cluster_id,
            "warning",
            service,
            reason,
            f"{step.name} failed: {message}",
            {"step": step.name, "attempt": step.attempts, "errorClass": error_class, "retryIn": round(delay, 3)},
            step.id,
        )
        grace = settings.step_ready_grace if publisher.sends_later(delay) else 0.0
        if not steps.fail(conn, step, reason, message, error_class, delay, grace, worked):
            conn.rollback()
            return "lost"
        STEPS_FAILED.labels(service, step.kind, reason, error_class).inc()
        for type_ in dict.fromkeys(filter(None, (step.condition, "Ready"))):
            set_condition(conn, step.cluster_id, type_, FALSE, reason, shown, step.generation, error_class)
    publisher.publish_later(step, delay)
    return "failed"
