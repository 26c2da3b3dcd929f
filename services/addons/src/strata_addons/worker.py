"""Celery entry point of the addons service (queue `addons`): its step handlers and the clusters'
drift checks."""

import strata_addons.handlers  # noqa: F401 - registers the service's step handlers
from strata_addons.drift import check_drift
from strata_common.queues import DRIFT_TASK
from strata_common.service import create_worker_app

app = create_worker_app("addons", {DRIFT_TASK: check_drift})
