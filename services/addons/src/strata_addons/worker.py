"""Celery entry point of the addons service (queue `addons`)."""

import strata_addons.handlers  # noqa: F401 - registers the service's step handlers
from strata_common.service import create_worker_app

app = create_worker_app("addons")
