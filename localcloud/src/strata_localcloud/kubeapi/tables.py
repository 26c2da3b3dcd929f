"""Server-side printing: lists, gets and watch events as meta.k8s.io/v1 Tables, which `kubectl get`
asks for (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`) to show its usual columns.

Columns follow kube-apiserver's printers for the common kinds; other kinds get Name and Age.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Row = list[Any]
Column = tuple[str, str, int]  # name, type, priority (1: shown by -o wide)


def wants_table(accept: str) -> bool:
    return any("as=Table" in part and "g=meta.k8s.io" in part for part in accept.split(","))


def human_age(obj: dict[str, Any], now: datetime) -> str:
    """kubectl's HumanDuration of the time since the object's creation."""
    created = obj["metadata"].get("creationTimestamp")
    if not created:
        return "<unknown>"
    seconds = int((now - datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds())
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{max(seconds, 0)}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    return f"{days}d" if days < 730 else f"{days // 365}y"


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def _pod(obj: dict[str, Any], age: str) -> Row:
    status = _status(obj)
    containers = status.get("containerStatuses") or []
    total = len((obj.get("spec") or {}).get("containers") or [])
    ready = sum(1 for c in containers if c.get("ready"))
    reason = next((s["waiting"]["reason"] for c in containers if (s := c.get("state") or {}).get("waiting")
                   and s["waiting"].get("reason")), None)  # fmt: skip
    if obj["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    restarts = sum(c.get("restartCount", 0) for c in containers)
    node = (obj.get("spec") or {}).get("nodeName") or "<none>"
    return [f"{ready}/{total}", reason or status.get("phase", "Pending"), restarts, age,
            status.get("podIP") or "<none>", node]  # fmt: skip


def _node(obj: dict[str, Any], age: str) -> Row:
    conditions = _status(obj).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    state = "Ready" if ready else "NotReady"
    if (obj.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    prefix = "node-role.kubernetes.io/"
    roles = sorted(k.removeprefix(prefix) for k in obj["metadata"].get("labels") or {} if k.startswith(prefix))
    return [state, ",".join(roles) or "<none>", age, (_status(obj).get("nodeInfo") or {}).get("kubeletVersion", "")]


def _deployment(obj: dict[str, Any], age: str) -> Row:
    status = _status(obj)
    replicas = (obj.get("spec") or {}).get("replicas", 1)
    return [f"{status.get('readyReplicas', 0)}/{replicas}", status.get("updatedReplicas", 0),
            status.get("availableReplicas", 0), age]  # fmt: skip


def _replicaset(obj: dict[str, Any], age: str) -> Row:
    status = _status(obj)
    return [(obj.get("spec") or {}).get("replicas", 1), status.get("replicas", 0), status.get("readyReplicas", 0), age]


def _statefulset(obj: dict[str, Any], age: str) -> Row:
    return [f"{_status(obj).get('readyReplicas', 0)}/{(obj.get('spec') or {}).get('replicas', 1)}", age]


def _daemonset(obj: dict[str, Any], age: str) -> Row:
    status = _status(obj)
    selector = ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("nodeSelector") or {}
    return [status.get("desiredNumberScheduled", 0), status.get("currentNumberScheduled", 0),
            status.get("numberReady", 0), status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0),
            ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>", age]  # fmt: skip


def _job(obj: dict[str, Any], age: str) -> Row:
    status = _status(obj)
    conditions = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    state = "Complete" if "Complete" in conditions else "Failed" if "Failed" in conditions else "Running"
    return [state, f"{status.get('succeeded', 0)}/{(obj.get('spec') or {}).get('completions', 1)}", age]


def _service(obj: dict[str, Any], age: str) -> Row:
    spec = obj.get("spec") or {}
    ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
    external = ",".join(i.get("ip") or i.get("hostname", "") for i in
                        (_status(obj).get("loadBalancer") or {}).get("ingress") or [])  # fmt: skip
    return [spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>", external or "<none>", ports or "<none>",
            age]  # fmt: skip


def _namespace(obj: dict[str, Any], age: str) -> Row:
    return [_status(obj).get("phase", "Active"), age]


def _claim(obj: dict[str, Any], age: str) -> Row:
    spec = obj.get("spec") or {}
    return [_status(obj).get("phase", "Pending"), spec.get("volumeName") or "", spec.get("storageClassName") or "",
            age]  # fmt: skip


AGE: Column = ("Age", "string", 0)
PRINTERS: dict[str, tuple[list[Column], Callable[[dict[str, Any], str], Row]]] = {
    "/pods": ([("Ready", "string", 0), ("Status", "string", 0), ("Restarts", "integer", 0), AGE, ("IP", "string", 1),
               ("Node", "string", 1)], _pod),
    "/nodes": ([("Status", "string", 0), ("Roles", "string", 0), AGE, ("Version", "string", 0)], _node),
    "apps/deployments": ([("Ready", "string", 0), ("Up-to-date", "integer", 0), ("Available", "integer", 0), AGE],
                         _deployment),
    "apps/replicasets": ([("Desired", "integer", 0), ("Current", "integer", 0), ("Ready", "integer", 0), AGE],
                         _replicaset),
    "apps/statefulsets": ([("Ready", "string", 0), AGE], _statefulset),
    "apps/daemonsets": ([("Desired", "integer", 0), ("Current", "integer", 0), ("Ready", "integer", 0),
                         ("Up-to-date", "integer", 0), ("Available", "integer", 0), ("Node Selector", "string", 0),
                         AGE], _daemonset),
    "batch/jobs": ([("Status", "string", 0), ("Completions", "string", 0), AGE], _job),
    "/services": ([("Type", "string", 0), ("Cluster-IP", "string", 0), ("External-IP", "string", 0),
                   ("Port(s)", "string", 0), AGE], _service),
    "/namespaces": ([("Status", "string", 0), AGE], _namespace),
    "/persistentvolumeclaims": ([("Status", "string", 0), ("Volume", "string", 0), ("StorageClass", "string", 0),
                                 AGE], _claim),
}  # fmt: skip
DEFAULT: tuple[list[Column], Callable[[dict[str, Any], str], Row]] = ([AGE], lambda obj, age: [age])


def _columns(key: str) -> list[dict[str, Any]]:
    columns = [("Name", "string", 0), *PRINTERS.get(key, DEFAULT)[0]]
    return [{"name": n, "type": t, "format": "name" if n == "Name" else "", "description": n, "priority": p}
            for n, t, p in columns]  # fmt: skip


def _row(key: str, obj: dict[str, Any], now: datetime) -> dict[str, Any]:
    cells = [obj["metadata"]["name"], *PRINTERS.get(key, DEFAULT)[1](obj, human_age(obj, now))]
    partial = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
    return {"cells": cells, "object": partial}


def table(key: str, objects: list[dict[str, Any]], metadata: dict[str, Any]) -> dict[str, Any]:
    """The Table of `objects` of the resource stored under `key` ("apps/deployments")."""
    now = datetime.now(UTC)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "columnDefinitions": _columns(key),
            "rows": [_row(key, obj, now) for obj in objects]}  # fmt: skip
