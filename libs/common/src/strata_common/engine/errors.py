"""The closed set of outcomes a step handler can signal besides success."""

from __future__ import annotations

USER_FIXABLE = "user-fixable"
TRANSIENT = "transient"
ERROR_CLASSES = (USER_FIXABLE, TRANSIENT)


class Retry(Exception):
    """An expected wait: look at the step again after `after` seconds (not a failure, no backoff)."""

    def __init__(self, after: float, message: str = ""):
        super().__init__(message or f"waiting {after:g}s")
        self.after = after
        self.message = message


class ClaimLost(Exception):
    """The step's lease ran out and another run took it over: this run stops without changing anything more."""


class StepError(Exception):
    """A failure a user should see on the step's condition, with whether they must act, and the least
    time before the next try that the failure asks for (a throttling cloud's Retry-After)."""

    def __init__(self, reason: str, message: str, error_class: str = TRANSIENT, not_sooner: float = 0.0):
        if error_class not in ERROR_CLASSES:
            raise ValueError(f"error_class must be one of {ERROR_CLASSES}")
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.error_class = error_class
        self.not_sooner = not_sooner
