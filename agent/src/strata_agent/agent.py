"""The agent's loop: pull the desired state (a 304 while unchanged), apply a new one, look at its
workloads, correct drift every so often, report after a change and at least every heartbeat, rotate its
token at half its life. The control plane out of reach changes nothing in the cluster: the agent keeps
the last desired state (still correcting drift against it), backs off, and reports once it is back."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from strata_agent.control_plane import ControlPlane, Unreachable
from strata_agent.reconcile import Reconciler
from strata_common.kube.client import KubeError

log = logging.getLogger(__name__)
MAX_BACKOFF = 60.0


class Agent:
    def __init__(
        self, control_plane: ControlPlane, reconciler: Reconciler, interval: float = 10.0,
        drift_interval: float = 60.0, heartbeat: float = 30.0, token_expires: datetime | None = None,
        on_rotate: Callable[[str, datetime], None] | None = None, long_poll: float = 0.0,
    ):  # fmt: skip
        self.control_plane, self.reconciler = control_plane, reconciler
        self.on_rotate = on_rotate
        self.long_poll = long_poll  # seconds the control plane may hold a poll until the desired state changes
        self.progressing = False  # the last report had workloads coming up: look again soon, no long poll
        self.unsaved: tuple[str, datetime] | None = None
        self.interval, self.drift_interval, self.heartbeat = interval, drift_interval, heartbeat
        self.token_expires, self.token_issued = token_expires, datetime.now(UTC)
        self.desired: dict[str, Any] | None = None
        self.etag: str | None = None
        self.drift: list[str] = []  # corrected since the last report that landed
        self.reported: dict[str, Any] | None = None
        self.reported_at = 0.0
        self.drift_checked = time.monotonic()
        self.failures = 0

    def run_once(self) -> float:
        """One pass; the seconds until the next."""
        asked = time.monotonic()
        try:
            etag, desired = self.control_plane.desired(self.etag, 0.0 if self.progressing else self.long_poll)
            reachable = True
        except Unreachable as err:
            log.warning("the control plane is out of reach (%s): keeping the last desired state", err)
            desired, reachable = None, False
        try:
            if desired is not None:
                self.desired = desired
                touched = self.reconciler.apply(desired)
                self.etag = etag  # only once applied whole: a pass the cluster's API broke off is pulled again
                log.info("applied generation %s: %d objects created, changed or deleted", desired["generation"],
                         len(touched))  # fmt: skip
            elif self.desired is not None and time.monotonic() - self.drift_checked >= self.drift_interval:
                self.drift += self.reconciler.drift(self.desired)
                self.drift_checked = time.monotonic()
            report = self._report() if self.desired is not None else None
        except KubeError as err:
            log.warning("the cluster's API answered %s; trying again", err)
            return self._backoff()
        if not reachable:
            return self._backoff()
        try:
            if report is not None and (report != self.reported or self.drift
                                       or time.monotonic() - self.reported_at >= self.heartbeat):  # fmt: skip
                self.control_plane.report({**report, "drift": self.drift})
                self.reported, self.reported_at, self.drift = report, time.monotonic(), []
            self._rotate_when_due()
        except Unreachable as err:
            log.warning("the control plane is out of reach (%s): reporting later", err)
            return self._backoff()
        self.failures = 0
        self.progressing = report is not None and any(p["state"] == "progressing" for p in report["packs"])
        if self.progressing:
            return min(self.interval, 2.0)
        held = time.monotonic() - asked >= self.long_poll / 2
        return 0.0 if self.long_poll and desired is None and held else self.interval  # held: ask again at once

    def _report(self) -> dict[str, Any]:
        assert self.desired is not None
        return {"generation": self.desired["generation"], "packs": self.reconciler.states(self.desired),
                "nodes": self.reconciler.nodes()}  # fmt: skip

    def _backoff(self) -> float:
        self.failures += 1
        return min(MAX_BACKOFF, self.interval * 2 ** min(self.failures, 6))

    def _rotate_when_due(self) -> None:
        if self.token_expires is None:
            return
        now = datetime.now(UTC)
        if now - self.token_issued >= (self.token_expires - self.token_issued) / 2:
            self.token_expires, self.token_issued = self.control_plane.rotate(), now
            log.info("token rotated; the new one expires %s", self.token_expires.isoformat())
            self.unsaved = (self.control_plane.token, self.token_expires)
        self._save_token()

    def _save_token(self) -> None:
        """Keep the rotated token where a restarted agent finds it (until the cluster's API takes it)."""
        if self.on_rotate is None or self.unsaved is None:
            return
        try:
            self.on_rotate(*self.unsaved)
            self.unsaved = None
        except KubeError as err:
            log.warning("the rotated token could not be saved yet (%s); trying again", err)
