"""The `control` Celery app: what beat schedules and Flower inspects."""

from strata_common.celery_app import CONTROL, create_celery
from strata_common.config import read_var

app = create_celery(CONTROL, read_var("redis_url"))
