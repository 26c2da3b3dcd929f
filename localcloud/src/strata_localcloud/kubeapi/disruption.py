"""PodDisruptionBudgets and the Eviction API as the API server and the disruption controller apply
them: a budget (minAvailable or maxUnavailable, a count or a percentage of the pods it selects)
allows as many disruptions as its healthy (Ready) pods exceed what it needs; an eviction that would
go below that is refused with 429 and the budget named, otherwise the pod is deleted (its controller
makes a new one elsewhere).

Differences from a real cluster: the emulator checks the budgets against the pods as they are at
the eviction (the API server reads the budget's status, which the disruption controller keeps
current a moment later), and an evicted pod is gone at once (no termination grace period)."""

from __future__ import annotations

import math
from typing import Any

from strata_common.kube.client import condition_true
from strata_localcloud.kubeapi import store
from strata_localcloud.kubeapi.errors import ApiError
from strata_localcloud.kubeapi.selectors import matches_label_selector

PDB = "policy/poddisruptionbudgets"


def _scaled(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        share = int(value[:-1]) * total / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(value)


def budget_status(pdb: dict[str, Any], pods: list[dict[str, Any]]) -> dict[str, Any]:
    """The status the disruption controller writes for `pdb` over its namespace's `pods`."""
    spec = pdb.get("spec") or {}
    selected = [p for p in pods if matches_label_selector(spec.get("selector") or {},
                                                          p["metadata"].get("labels") or {})]  # fmt: skip
    expected = len(selected)
    healthy = sum(1 for p in selected if condition_true(p))
    if "maxUnavailable" in spec:
        desired = max(0, expected - _scaled(spec["maxUnavailable"], expected, round_up=False))
    else:
        desired = _scaled(spec.get("minAvailable", 1), expected, round_up=True)
    allowed = max(0, healthy - desired)
    return {
        "observedGeneration": pdb["metadata"].get("generation", 1),
        "expectedPods": expected,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "disruptionsAllowed": allowed,
        "conditions": [{"type": "DisruptionAllowed", "status": "True" if allowed else "False",
                        "reason": "SufficientPods" if allowed else "InsufficientPods", "message": ""}],
    }  # fmt: skip


def evict(tx: store.Tx, namespace: str, name: str) -> dict[str, Any]:
    """Delete the pod unless a budget of its namespace that selects it allows no disruption (429)."""
    pod = tx.get("/pods", namespace, name)
    if pod is None:
        raise ApiError(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})
    labels = pod["metadata"].get("labels") or {}
    pods = tx.list("/pods", namespace)
    for pdb in tx.list(PDB, namespace):
        if not matches_label_selector((pdb.get("spec") or {}).get("selector") or {}, labels):
            continue
        status = budget_status(pdb, pods)
        if condition_true(pod) and status["disruptionsAllowed"] < 1:
            cause = (f"The disruption budget {pdb['metadata']['name']} needs {status['desiredHealthy']} healthy pods"
                     f" and has {status['currentHealthy']} currently")  # fmt: skip
            raise ApiError(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
                           {"causes": [{"reason": "DisruptionBudget", "message": cause}]})  # fmt: skip
    tx.delete("/pods", namespace, name)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
