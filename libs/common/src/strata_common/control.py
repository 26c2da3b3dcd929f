"""The `control` Celery app: what beat runs (the re-drive schedule) and Flower inspects."""

from strata_common.celery_app import create_celery
from strata_common.config import read_var
from strata_common.queues import CONTROL, REDRIVE_TASK

app = create_celery(CONTROL, read_var("redis_url"))
_interval = read_var("redrive_interval")
app.conf.beat_schedule = {
    "redrive": {"task": REDRIVE_TASK, "schedule": _interval, "options": {"expires": max(5.0, _interval * 5)}},
}
