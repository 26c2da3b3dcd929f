"""Celery entry point of the imagebuilder service (queue `imagebuilder`)."""

import strata_imagebuilder.handlers  # noqa: F401 - registers the service's step handlers
from strata_common.service import create_worker_app

app = create_worker_app("imagebuilder")
