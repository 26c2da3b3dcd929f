"""What the API server fills in when a client leaves it out: Kubernetes' defaulting for pods, pod
templates and the workload kinds, and Services' cluster IP and node port allocation (kept across a
replace that omits them, immutable once set)."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from typing import Any

SERVICE_NETWORK = ipaddress.ip_network("10.96.0.0/12")
NODE_PORTS = range(30000, 32768)
KUBERNETES_SERVICE_IP = "10.96.0.1"


class Invalid(ValueError):
    """A field the write may not set or change (the message names it)."""


def _fill(obj: dict[str, Any], defaults: dict[str, Any]) -> None:
    for key, value in defaults.items():
        if obj.get(key) is None:
            obj[key] = value


def _pull_policy(image: str) -> str:
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _container(container: dict[str, Any]) -> None:
    _fill(container, {"terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                      "imagePullPolicy": _pull_policy(container.get("image") or ""), "resources": {}})  # fmt: skip
    for port in container.get("ports") or []:
        _fill(port, {"protocol": "TCP"})


def pod_spec(spec: dict[str, Any], restart_policy: str | None = "Always") -> None:
    defaults = {"dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler", "securityContext": {},
                "terminationGracePeriodSeconds": 30}  # fmt: skip
    if restart_policy:
        defaults["restartPolicy"] = restart_policy
    _fill(spec, defaults)
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        if isinstance(container, dict):
            _container(container)


def _template(spec: dict[str, Any], restart_policy: str | None = "Always") -> None:
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        pod_spec(template["spec"], restart_policy)


def _job_spec(spec: dict[str, Any]) -> None:
    _fill(spec, {"parallelism": 1, "completions": 1, "backoffLimit": 6, "completionMode": "NonIndexed",
                 "suspend": False})  # fmt: skip
    _template(spec, None)  # a Job's pods must say Never or OnFailure themselves


def _workload(kind: str, spec: dict[str, Any]) -> None:
    if kind == "Deployment":
        _fill(spec, {"replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                     "strategy": {"type": "RollingUpdate"}})  # fmt: skip
        if spec["strategy"].get("type") == "RollingUpdate":
            _fill(spec["strategy"].setdefault("rollingUpdate", {}), {"maxUnavailable": "25%", "maxSurge": "25%"})
    elif kind == "StatefulSet":
        retention = {"whenDeleted": "Retain", "whenScaled": "Retain"}
        _fill(spec, {"replicas": 1, "revisionHistoryLimit": 10, "podManagementPolicy": "OrderedReady",
                     "updateStrategy": {"type": "RollingUpdate"},
                     "persistentVolumeClaimRetentionPolicy": retention})  # fmt: skip
        if spec["updateStrategy"].get("type") == "RollingUpdate":
            _fill(spec["updateStrategy"].setdefault("rollingUpdate", {}), {"partition": 0})
        for claim in spec.get("volumeClaimTemplates") or []:
            _fill(claim.setdefault("spec", {}), {"volumeMode": "Filesystem"})
    elif kind == "DaemonSet":
        _fill(spec, {"revisionHistoryLimit": 10, "updateStrategy": {"type": "RollingUpdate"}})
        if spec["updateStrategy"].get("type") == "RollingUpdate":
            _fill(spec["updateStrategy"].setdefault("rollingUpdate", {}), {"maxUnavailable": 1, "maxSurge": 0})
    elif kind == "ReplicaSet":
        _fill(spec, {"replicas": 1})
    elif kind == "Job":
        _job_spec(spec)
        return
    elif kind == "CronJob":
        _fill(spec, {"concurrencyPolicy": "Allow", "suspend": False, "successfulJobsHistoryLimit": 3,
                     "failedJobsHistoryLimit": 1})  # fmt: skip
        job = (spec.get("jobTemplate") or {}).get("spec")
        if isinstance(job, dict):
            _job_spec(job)
        return
    else:
        return
    _template(spec)


def _allocate(used: set[str], size: int, start: int, render: Callable[[int], str]) -> str:
    """The first of `size` candidates, probing from `start`, whose rendering is not in `used`."""
    for offset in range(size):
        candidate = render((start + offset) % size)
        if candidate not in used:
            return candidate
    raise Invalid("no free address or port left to allocate")


def _seed(body: dict[str, Any], salt: str) -> int:
    meta = body.get("metadata") or {}
    key = f"{meta.get('namespace', '')}/{meta.get('name', '')}/{salt}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def _service(body: dict[str, Any], old: dict[str, Any] | None, others: list[dict[str, Any]]) -> None:
    spec = body.setdefault("spec", {})
    before = (old or {}).get("spec") or {}
    _fill(spec, {"type": "ClusterIP", "sessionAffinity": "None"})
    kind = spec["type"]
    for port in spec.get("ports") or []:
        _fill(port, {"protocol": "TCP", "targetPort": port.get("port")})
    if kind == "ExternalName":
        return
    if before.get("clusterIP") and not spec.get("clusterIP"):
        spec["clusterIP"] = before["clusterIP"]
    if before.get("clusterIP") and spec["clusterIP"] != before["clusterIP"]:
        raise Invalid(f"spec.clusterIP: Invalid value: {spec['clusterIP']!r}: field is immutable")
    if not spec.get("clusterIP"):
        used = {str((o.get("spec") or {}).get("clusterIP")) for o in others} | {KUBERNETES_SERVICE_IP}
        hosts = SERVICE_NETWORK.num_addresses - 2  # neither the network nor the broadcast address
        spec["clusterIP"] = _allocate(used, hosts, _seed(body, "ip"), lambda i: str(SERVICE_NETWORK[i + 1]))
    _fill(spec, {"clusterIPs": [spec["clusterIP"]], "internalTrafficPolicy": "Cluster"})
    if spec["clusterIP"] != "None":
        _fill(spec, {"ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"})
    if kind in ("NodePort", "LoadBalancer"):
        _fill(spec, {"externalTrafficPolicy": "Cluster"})
        taken = {str(p.get("nodePort")) for o in others for p in (o.get("spec") or {}).get("ports") or []}
        kept = {(p.get("port"), p.get("protocol")): p.get("nodePort") for p in before.get("ports") or []}
        for index, port in enumerate(spec.get("ports") or []):
            if not port.get("nodePort"):
                port["nodePort"] = kept.get((port.get("port"), port.get("protocol"))) or int(
                    _allocate(taken, len(NODE_PORTS), _seed(body, f"port{index}"), lambda i: str(NODE_PORTS[i]))
                )
            taken.add(str(port["nodePort"]))
    if kind == "LoadBalancer":
        _fill(spec, {"allocateLoadBalancerNodePorts": True})


def default(body: dict[str, Any], old: dict[str, Any] | None, services: Callable[[], list[dict[str, Any]]]) -> None:
    """Fill in `body` (about to replace `old`) as the API server would; `services` lists the cluster's
    Services (for allocation). Raises Invalid for a change the API server refuses."""
    kind, spec = body.get("kind"), body.get("spec")
    if body.get("apiVersion") not in ("v1", "apps/v1", "batch/v1") or not isinstance(spec, dict):
        if kind == "Secret" and body.get("apiVersion") == "v1":
            _fill(body, {"type": "Opaque"})
        return
    if kind == "Pod":
        pod_spec(spec)
        _fill(spec, {"enableServiceLinks": True})
    elif kind == "Service":
        name = body["metadata"].get("name")
        _service(body, old, [s for s in services() if s["metadata"]["name"] != name or
                             s["metadata"].get("namespace") != body["metadata"].get("namespace")])  # fmt: skip
    elif kind == "PersistentVolumeClaim":
        _fill(spec, {"volumeMode": "Filesystem"})
    else:
        _workload(kind, spec)
