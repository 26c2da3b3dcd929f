"""The engine's metrics, counted in every worker service ("service" is imagebuilder, provisioner or
addons; "step" the step's kind, ensure_node for ensure_node/workers-3, so the labels stay bounded):
steps claimed, succeeded, failed, requeued and their durations; claims lost and conflicting; beat's
re-drive passes."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

STEP_SECONDS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0)

STEPS_CLAIMED = Counter("strata_steps_claimed_total", "Steps a worker claimed to run", ["service", "step"])
STEPS_SUCCEEDED = Counter("strata_steps_succeeded_total", "Steps whose handler succeeded", ["service", "step"])
STEPS_FAILED = Counter(
    "strata_steps_failed_total",
    "Steps whose handler failed (retried after a backoff), by reason and error class",
    ["service", "step", "reason", "error_class"],
)
STEPS_REQUEUED = Counter(
    "strata_steps_requeued_total", "Steps whose handler asked to be run again later (an expected wait)",
    ["service", "step"],
)  # fmt: skip
STEP_DURATION = Histogram(
    "strata_step_duration_seconds",
    "Time a step's handler ran, by outcome (succeeded, failed, requeued, lost)",
    ["service", "step", "outcome"],
    buckets=STEP_SECONDS_BUCKETS,
)
CLAIM_CONFLICTS = Counter(
    "strata_step_claim_conflicts_total",
    "Messages for a step another worker held or had finished (nothing to run: a duplicate or late message)",
    ["service"],
)
CLAIMS_LOST = Counter(
    "strata_step_claims_lost_total",
    "Step runs whose outcome was not recorded: their claim had passed to another worker, or recording failed",
    ["service", "step"],
)

# Beat's re-drive pass (it runs on whichever worker takes the message from the control queue).
REDRIVE_PASSES = Counter("strata_redrive_passes_total", "Re-drive passes that ran (not skipped on the lock)")
REDRIVE_PUBLISHED = Counter(
    "strata_redrive_published_total", "Messages a re-drive pass published, by kind (step, health, drift)", ["kind"]
)
LEASE_EXPIRIES = Counter(
    "strata_step_lease_expiries_total",
    "Running steps found with an expired lease or a dead owner (their worker stopped) and made due again",
)
REDRIVE_DUE = Gauge(
    "strata_redrive_due_steps", "Steps the last re-drive pass found due (its backlog)", multiprocess_mode="mostrecent"
)
