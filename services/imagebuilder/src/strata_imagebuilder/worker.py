"""Celery entry point of the imagebuilder service (queue `imagebuilder`)."""

from strata_common.service import create_worker_app

app = create_worker_app("imagebuilder")
