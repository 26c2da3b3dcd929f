"""Whether an applied workload is available, and if not, why, in words a user can act on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strata_common.kube.client import KubeClient

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
# Pod states that will not fix themselves: the pack's values or the cluster must change.
STUCK = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CrashLoopBackOff", "CreateContainerConfigError")


@dataclass(frozen=True)
class NotReady:
    message: str
    stuck: bool  # True: waiting longer will not help


def _available(obj: dict[str, Any]) -> tuple[bool, str]:
    kind, spec, status = obj["kind"], obj.get("spec") or {}, obj.get("status") or {}
    observed = status.get("observedGeneration", 0) >= obj["metadata"].get("generation", 1)
    if kind == "Deployment" or kind == "StatefulSet":
        want = spec.get("replicas", 1)
        have = status.get("availableReplicas" if kind == "Deployment" else "readyReplicas", 0) or 0
        return observed and have >= want, f"{have}/{want} replicas available"
    if kind == "DaemonSet":
        want, have = status.get("desiredNumberScheduled", 0), status.get("numberAvailable", 0) or 0
        return observed and have >= want, f"{have}/{want} pods available"
    done = any(c.get("type") == "Complete" and c.get("status") == "True" for c in status.get("conditions") or [])
    return done, "not complete"


def _pod_problem(pod: dict[str, Any]) -> tuple[str, bool] | None:
    name = pod["metadata"]["name"]
    status = pod.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "Unschedulable":
            return f"pod {name} cannot be scheduled: {condition.get('message', '')}", True
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in STUCK:
            detail = f": {waiting['message']}" if waiting.get("message") else ""
            return f"pod {name} container {container['name']}: {waiting['reason']}{detail}", True
    return None


def not_ready(client: KubeClient, obj: dict[str, Any]) -> NotReady | None:
    """None when the live object is available; else what is wrong, from its pods' states."""
    meta = obj["metadata"]
    where = f"{obj['kind']} {meta.get('namespace', '')}/{meta['name']}".replace(" /", " ")
    live = client.get(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
    if live is None:
        return NotReady(f"{where} does not exist", False)
    ok, summary = _available(live)
    if ok:
        return None
    labels = ((live.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or None
    pods = client.list("v1", "Pod", meta.get("namespace"), selector) if selector else []
    for pod in pods:
        problem = _pod_problem(pod)
        if problem:
            return NotReady(f"{where}: {summary}; {problem[0]}", problem[1])
    return NotReady(f"{where}: {summary}", False)
