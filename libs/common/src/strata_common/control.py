"""The `control` Celery app: what beat runs (the re-drive schedule) and Flower inspects."""

from strata_common.celery_app import create_celery
from strata_common.config import read_var
from strata_common.queues import CONTROL, PURGE_TASK, REDRIVE_TASK

app = create_celery(CONTROL, read_var("redis_url"))
_interval = read_var("redrive_interval")
PURGE_INTERVAL = 30.0
app.conf.beat_schedule = {
    "redrive": {"task": REDRIVE_TASK, "schedule": _interval, "options": {"expires": max(5.0, _interval * 5)}},
    "purge": {"task": PURGE_TASK, "schedule": PURGE_INTERVAL, "options": {"expires": PURGE_INTERVAL}},
}
