"""Draining a node as `kubectl drain` does: cordon it, then evict every pod a controller will place
elsewhere through the Eviction API, which honours PodDisruptionBudgets (the API server answers 429
while a budget allows no disruption). DaemonSet pods and mirror pods stay: they belong to the node.
"""

from __future__ import annotations

from typing import Any

from strata_common.kube.client import KubeClient, KubeError

MIRROR = "kubernetes.io/config.mirror"


def _evictable(pod: dict[str, Any]) -> bool:
    meta = pod["metadata"]
    if MIRROR in (meta.get("annotations") or {}):
        return False
    if any(ref.get("kind") == "DaemonSet" for ref in meta.get("ownerReferences") or []):
        return False
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def _budget_message(err: KubeError, pod: dict[str, Any]) -> str:
    """What holds a pod: the budget the API server names, with the pod's namespace."""
    causes = ((err.body or {}).get("details") or {}).get("causes") or []
    why = "; ".join(c.get("message", "") for c in causes if c.get("message")) or err.message
    meta = pod["metadata"]
    return f"pod {meta['namespace']}/{meta['name']}: {why} (namespace {meta['namespace']})"


def drain(client: KubeClient, node: str) -> str | None:
    """Cordon `node` and evict its pods; None once no evictable pod is left on it, else what holds it.
    A node that no longer exists is drained."""
    found = client.get("v1", "Node", None, node)
    if found is None:
        return None
    if not (found.get("spec") or {}).get("unschedulable"):
        client.merge_patch("v1", "Node", None, node, {"spec": {"unschedulable": True}})
    held = []
    pods = [p for p in client.list("v1", "Pod", field_selector=f"spec.nodeName={node}") if _evictable(p)]
    for pod in pods:
        try:
            client.evict(pod["metadata"]["namespace"], pod["metadata"]["name"])
        except KubeError as err:
            if err.status == 429:
                held.append(_budget_message(err, pod))
            elif err.status != 404:
                raise
    if held:
        return "; ".join(held)
    left = [p for p in client.list("v1", "Pod", field_selector=f"spec.nodeName={node}") if _evictable(p)]
    return f"{len(left)} pods are still terminating" if left else None
