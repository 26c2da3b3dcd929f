"""Celery entry point of the provisioner service (queue `provisioner`)."""

from strata_common.service import create_worker_app

app = create_worker_app("provisioner")
