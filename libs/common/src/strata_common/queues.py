"""The one list of queues and task names: a queue per worker service plus `control`, tasks named
`strata.<queue>.<name>` and routed by that name. Plain names, so the engine can check a plan's
queues without importing Celery."""

from __future__ import annotations

SERVICES = ("imagebuilder", "provisioner", "addons")
CONTROL = "control"
QUEUES = (*SERVICES, CONTROL)
REDRIVE_TASK = "strata.control.redrive"
PURGE_TASK = "strata.control.purge"  # what deleted clusters leave, once past STRATA_RETENTION_SECONDS
# A Running cluster's periodic checks, sent by the re-drive when its health check is due: its nodes
# (provisioner) and its add-ons' drift (addons).
HEALTH_TASK = "strata.provisioner.check_health"
DRIFT_TASK = "strata.addons.check_drift"


def ping_task(service: str) -> str:
    """Name of the round-trip ping task consumed by `service`."""
    return f"strata.{service}.ping"


def run_step_task(queue: str) -> str:
    """Name of the task that runs one engine step on `queue` ("look at step N")."""
    return f"strata.{queue}.run_step"


def queue_of(task_name: str) -> str:
    """The queue a task is routed to: the second dot-separated part of its name."""
    parts = task_name.split(".")
    if len(parts) < 3 or parts[0] != "strata" or parts[1] not in QUEUES:
        raise ValueError(f"task name {task_name!r} is not strata.<queue>.<name>")
    return parts[1]
