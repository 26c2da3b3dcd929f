"""Tasks are routed to their service's queue by name."""

import pytest

from strata_common.celery_app import create_celery
from strata_common.queues import CONTROL, SERVICES, ping_task, queue_of


def test_a_task_is_routed_by_its_name():
    router = create_celery(CONTROL, "redis://127.0.0.1:1/0").amqp.router
    for service in SERVICES:
        assert router.route({}, ping_task(service))["queue"].name == service


def test_names_outside_the_scheme_are_refused():
    with pytest.raises(ValueError):
        queue_of("strata.nowhere.ping")
