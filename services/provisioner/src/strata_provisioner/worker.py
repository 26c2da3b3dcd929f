"""Celery entry point of the provisioner service (queue `provisioner`)."""

import strata_provisioner.handlers  # noqa: F401 - registers the service's step handlers
from strata_common.service import create_worker_app

app = create_worker_app("provisioner")
