"""Celery entry point of the addons service (queue `addons`)."""

from strata_common.service import create_worker_app

app = create_worker_app("addons")
