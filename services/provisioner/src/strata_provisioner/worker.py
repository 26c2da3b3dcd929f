"""Celery entry point of the provisioner service (queue `provisioner`): its step handlers and the
clusters' health checks."""

import strata_provisioner.force_delete
import strata_provisioner.handlers
import strata_provisioner.nodes
import strata_provisioner.scans  # noqa: F401 - with handlers, nodes and force_delete: registers the step handlers
from strata_common.queues import HEALTH_TASK
from strata_common.service import create_worker_app
from strata_provisioner.health import check_health

app = create_worker_app("provisioner", {HEALTH_TASK: check_health})
