"""The simulated kubelet, scheduler and controllers of the emulated clusters.

Nodes mirror the cluster's running instances (control-plane nodes tainted). Deployments make
ReplicaSets, ReplicaSets, StatefulSets, DaemonSets and Jobs make Pods; the scheduler places Pods on
Ready nodes whose taints they tolerate and whose claims are bound; a Pod's containers start after
the pod-start latency unless an image cannot be pulled (registry hosts under `.invalid` do not
resolve: ErrImagePull, then ImagePullBackOff). Workload status follows the Pods, as the real
controllers report it. A cluster is reconciled after each write to it, after each change to its
instances (the local cloud's notifications; a cluster on another cloud's stand-in is looked at every
few seconds instead), and when a pending instance or pod is due; each pass reads the cluster's
objects with one query. All of it is level-triggered, so a restart or a lost notification loses
nothing: the listener's reconnect makes every active cluster due.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
import random
import string
import threading
import time
from typing import Any

from psycopg_pool import ConnectionPool

from strata_localcloud.kubeapi import disruption, serviceaccounts, store
from strata_localcloud.kubeapi.clusters import ClusterDirectory
from strata_localcloud.kubeapi.errors import ApiError
from strata_localcloud.kubeapi.runtime import TOKEN_SECONDS, AgentRuntime, Launch, NotStartable
from strata_localcloud.kubeapi.selectors import matches_label_selector

log = logging.getLogger(__name__)
POD_START_SECONDS = 5.0  # x the local cloud's time scale
INSTANCE_NEWS = "strata_lc_instances"  # NOTIFY channel of the local cloud's instance changes (migration 0016)
RESYNC_SECONDS = 3.0  # clusters on another cloud's stand-in, which sends no news of its instances
ACTIVE_SECONDS = 600.0
COMPACT_EVERY = 60.0
KEEP_CHANGES_SECONDS = 900.0
_SUFFIX = string.ascii_lowercase + string.digits
# Writes that give the controllers work; anything else (ConfigMaps, RBAC, ...) does not wake them.
WATCHED = {"apps/deployments", "apps/replicasets", "apps/statefulsets", "apps/daemonsets", "batch/jobs", "/pods",
           "policy/poddisruptionbudgets",
           "/persistentvolumeclaims", "storage.k8s.io/storageclasses", "/nodes"}  # fmt: skip
DEBOUNCE_SECONDS = 0.02  # a burst of applies to a cluster makes one reconcile
CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


def template_hash(template: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return "".join(_SUFFIX[int(digest[i : i + 2], 16) % len(_SUFFIX)] for i in range(0, 20, 2))


def _owner(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _owned_by(obj: dict[str, Any], owner: dict[str, Any]) -> bool:
    return any(r.get("uid") == owner["metadata"]["uid"] for r in obj["metadata"].get("ownerReferences") or [])


def _tolerates(pod_spec: dict[str, Any], taints: list[dict[str, Any]]) -> bool:
    tolerations = pod_spec.get("tolerations") or []

    def tolerated(taint: dict[str, Any]) -> bool:
        for tol in tolerations:
            if tol.get("operator") == "Exists" and not tol.get("key"):
                return True
            same = tol.get("key") == taint["key"] and tol.get("effect") in (None, "", taint["effect"])
            if same and (tol.get("operator") == "Exists" or tol.get("value") == taint.get("value")):
                return True
        return False

    return all(tolerated(t) for t in taints if t["effect"] in ("NoSchedule", "NoExecute"))


def _pull_error(image: str) -> str | None:
    """Why an image cannot be pulled in the local cloud (registry hosts under .invalid do not resolve)."""
    first = image.split("/", 1)[0]
    host = first.split(":", 1)[0] if "/" in image and ("." in first or ":" in first) else "docker.io"
    if host.endswith(".invalid"):
        return (
            f'failed to pull and unpack image "{image}": failed to resolve reference "{image}": '
            f"dial tcp: lookup {host}: no such host"
        )
    return None


class Controllers:
    """One thread reconciling clusters when they are due."""

    def __init__(self, pool: ConnectionPool, directory: ClusterDirectory, time_scale: float, retention: float,
                 runtime: AgentRuntime | None = None):  # fmt: skip
        self.pool = pool
        self.runtime = runtime
        self.retention = retention
        self.directory = directory
        self.pod_start = POD_START_SECONDS * time_scale
        self._cond = threading.Condition()
        self._due: dict[str, float] = {}
        self._active: dict[str, float] = {}
        self._scheduled_at: dict[str, float] = {}  # pod uid -> when it was bound to a node
        self._stopped = False

    def written(self, cluster_id: str, resource: str) -> None:
        """The API stored a change: reconcile soon if it is something the controllers act on."""
        if resource in WATCHED:
            self.poke(cluster_id, DEBOUNCE_SECONDS)

    def seen(self, cluster_id: str) -> None:
        """A client talks to the cluster: keep it reconciled (its Nodes follow its instances) from now on."""
        with self._cond:
            known = cluster_id in self._active
            self._active[cluster_id] = time.monotonic()
        if not known:
            self.poke(cluster_id)

    def poke(self, cluster_id: str, after: float = 0.0) -> None:
        with self._cond:
            due = time.monotonic() + after
            if due < self._due.get(cluster_id, float("inf")):
                self._due[cluster_id] = due
                self._cond.notify()
            self._active[cluster_id] = time.monotonic()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self.runtime is not None:
            self.runtime.stop_all()

    def instances_changed(self, cluster_id: str | None) -> None:
        """The local cloud changed a cluster's instances (None: news may have been lost, look at all)."""
        if cluster_id is not None:
            self.directory.forget(cluster_id)
            self.poke(cluster_id)
            return
        with self._cond:
            clusters = list(self._active)
        for each in clusters:
            self.directory.forget(each)
            self.poke(each)

    def run(self) -> None:
        with self.pool.connection() as conn:
            for row in conn.execute("SELECT DISTINCT cluster_id FROM kube_objects").fetchall():
                self.poke(str(row["cluster_id"]))
        last_resync = last_compact = time.monotonic()
        while True:
            if time.monotonic() - last_compact > COMPACT_EVERY:  # also when no cluster is due (a quiet fleet)
                last_compact = time.monotonic()
                try:
                    self.collect_garbage()
                except Exception:  # the database away: next time
                    log.exception("collecting the emulator's garbage failed")
            with self._cond:
                if self._stopped:
                    return
                now = time.monotonic()
                if now - last_resync > RESYNC_SECONDS:
                    last_resync = now
                    self._resync(now)
                due = [c for c, at in self._due.items() if at <= now]
                if not due:
                    wait = min([*self._due.values(), now + 1.0, last_resync + RESYNC_SECONDS]) - now
                    self._cond.wait(max(0.005, wait))
                    continue
                for cluster_id in due:
                    del self._due[cluster_id]
            for cluster_id in due:
                try:
                    again = self.reconcile(cluster_id)
                except Exception:
                    log.exception("reconciling cluster %s failed", cluster_id)
                    again = 1.0
                if again is not None:
                    self.poke(cluster_id, again)

    def _resync(self, now: float) -> None:
        """Forget clusters nobody asked about for a while; make those whose instances send no news due."""
        for cluster_id, seen in list(self._active.items()):
            if now - seen > ACTIVE_SECONDS:
                self._active.pop(cluster_id, None)
            elif not self.directory.inventory.sends_news(cluster_id):
                self._due.setdefault(cluster_id, now)

    def collect_garbage(self) -> None:
        """Compact the change log; forget the objects and changes of clusters whose API load balancer is gone, and
        the cloud's resources deleted and faults fired longer than the retention ago."""
        with self.pool.connection() as conn:
            store.compact(conn, KEEP_CHANGES_SECONDS)
            conn.execute("DELETE FROM lc_resources WHERE deleted_at < now() - make_interval(secs => %s)",
                         (self.retention,))  # fmt: skip
            conn.execute("DELETE FROM lc_faults WHERE remaining = 0 AND created_at < now() - make_interval(secs => %s)",
                         (self.retention,))  # fmt: skip
            known = [row["cluster_id"] for row in conn.execute("SELECT DISTINCT cluster_id::text FROM kube_objects")]
            gone = self.directory.inventory.clusters_without_api(known)
            conn.execute("DELETE FROM kube_objects WHERE cluster_id::text = ANY(%s)", (gone,))
            conn.execute("DELETE FROM kube_changes WHERE cluster_id::text = ANY(%s)", (gone,))

    # ---- one pass over a cluster --------------------------------------------------------------------

    def reconcile(self, cluster_id: str) -> float | None:
        """Bring the cluster's objects one step further; the delay until it should look again, or None."""
        instances = self.directory.inventory.node_instances(cluster_id)
        pending = [i["ready_in"] for i in instances if not i["running"] and i.get("ready_in") is not None]
        next_ready = min(pending, default=None)
        try:
            info = self.directory.info(cluster_id)
        except ApiError:
            if self.runtime is not None:  # its API gone (the cluster deleted): so are its pods' processes
                self.runtime.stop_cluster(cluster_id)
            return next_ready  # no API yet: an instance's news or readiness brings it
        with store.transaction(self.pool, cluster_id) as tx:
            pass_ = _Pass(tx, self, info.version)
            pass_.nodes(instances)
            pass_.workloads()
            wait = pass_.pods()
            renew = pass_.agents(info.server_name)
        if tx.changed:
            return 0.0  # statuses follow the pods changed in this pass
        return min((w for w in (wait, next_ready, renew) if w is not None), default=None)


class _Pass:
    """One reconciliation of one cluster inside its write transaction. The objects it acts on are read
    with one query when first needed and kept current by its own writes; a delete (which may cascade)
    makes the next look read them again."""

    def __init__(self, tx: store.Tx, controllers: Controllers, version: str):
        self.tx = tx
        self.c = controllers
        self.version = version
        self.now = time.monotonic()
        self._objects: dict[str, dict[tuple[str, str], dict[str, Any]]] | None = None

    def _all(self) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
        if self._objects is None:
            self._objects = {resource: {} for resource in WATCHED}
            for row in self.tx.conn.execute(
                "SELECT resource, namespace, name, body FROM kube_objects WHERE cluster_id = %s"
                " AND resource = ANY(%s) ORDER BY namespace, name",
                (self.tx.cluster_id, sorted(WATCHED)),
            ):
                self._objects[row["resource"]][row["namespace"], row["name"]] = row["body"]
        return self._objects

    def list(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        objects = self._all()[resource]
        return [objects[key] for key in sorted(objects) if namespace is None or key[0] == namespace]

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self._all()[resource].get((namespace, name))

    def put(self, resource: str, body: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        stored = self.tx.put(resource, body, old)
        if self._objects is not None:
            key = stored["metadata"].get("namespace", ""), stored["metadata"]["name"]
            self._objects.setdefault(resource, {})[key] = stored
        return stored

    def delete(self, resource: str, namespace: str, name: str) -> None:
        self.tx.delete(resource, namespace, name)
        self._objects = None

    def save(self, key: str, new: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        if old is not None and new == old:
            return old
        return self.put(key, new, old)

    def nodes(self, instances: list[dict[str, Any]]) -> None:
        existing = {n["metadata"]["name"]: n for n in self.list("/nodes")}
        wanted = set()
        for inst in instances:
            if not inst["running"] or "strata:node" not in inst["tags"]:  # image builders are no nodes
                continue
            name = inst["tags"]["strata:node"].split("/")[-1]
            wanted.add(name)
            control = inst["tags"].get("strata:role") == "control-plane"
            labels = {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": inst["spec"]["instanceType"],
                "topology.kubernetes.io/region": inst["region"],
                "topology.kubernetes.io/zone": inst["zone"],
                "strata.dev/pool": inst["tags"].get("strata:pool", ""),
            }
            if control:
                labels["node-role.kubernetes.io/control-plane"] = ""
            old = existing.get(name)
            node = copy.deepcopy(old) if old else {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
            node["metadata"]["labels"] = {**(node["metadata"].get("labels") or {}), **labels}
            node["spec"] = {
                **(node.get("spec") or {}),
                "providerID": f"{inst.get('provider', 'local')}:///{inst['zone']}/{inst['id']}",
            }
            if control:
                node["spec"]["taints"] = [CONTROL_PLANE_TAINT]
            memory = f"{inst['spec']['memoryMiB']}Mi"
            kubelet = inst["tags"].get("strata:kubernetes") or self.version  # each node runs its own image's kubelet
            machine = hashlib.md5(inst["id"].encode(), usedforsecurity=False).hexdigest()
            node["status"] = {
                "capacity": {"cpu": str(inst["spec"]["vcpus"]), "memory": memory, "pods": "110"},
                "allocatable": {"cpu": str(inst["spec"]["vcpus"]), "memory": memory, "pods": "110"},
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "kubelet is posting ready status",
                    }
                ],
                "nodeInfo": {
                    "kubeletVersion": kubelet,
                    "kubeProxyVersion": kubelet,
                    "containerRuntimeVersion": "containerd://1.7.22",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                    "kernelVersion": "6.8.0-1019-local",
                    "osImage": inst["tags"].get("strata:os", "Linux"),
                    "machineID": machine,
                    "systemUUID": machine,
                    "bootID": machine,
                },
                "addresses": [{"type": "Hostname", "address": name}],
            }
            self.save("/nodes", node, old)
        for name in existing.keys() - wanted:
            self.delete("/nodes", "", name)
        self.ready_nodes = [n for n in self.list("/nodes")]

    # ---- workload controllers ----------------------------------------------------------------------

    def workloads(self) -> None:
        for deployment in self.list("apps/deployments"):
            self.deployment(deployment)
        for rs in self.list("apps/replicasets"):
            self.replicas(
                rs,
                "apps/replicasets",
                rs["spec"].get("replicas", 1),
                rs["metadata"]["labels"].get("pod-template-hash", ""),
            )
        for sts in self.list("apps/statefulsets"):
            self.statefulset(sts)
        for pdb in self.list(disruption.PDB):
            status = disruption.budget_status(pdb, self.list("/pods", pdb["metadata"]["namespace"]))
            if pdb.get("status") != status:
                self.save(disruption.PDB, {**pdb, "status": status}, pdb)
        for ds in self.list("apps/daemonsets"):
            self.daemonset(ds)
        for job in self.list("batch/jobs"):
            self.job(job)
        self.claims()

    def _pods(self, owner: dict[str, Any]) -> list[dict[str, Any]]:
        namespace = owner["metadata"]["namespace"]
        return [p for p in self.list("/pods", namespace) if _owned_by(p, owner)]

    def _new_pod(self, owner: dict[str, Any], name: str, revision: str, **spec: Any) -> None:
        template = owner["spec"].get("template") or {}
        labels = {**((template.get("metadata") or {}).get("labels") or {}), "controller-revision-hash": revision}
        if owner["kind"] == "ReplicaSet":
            labels = {**labels, "pod-template-hash": revision}
            labels.pop("controller-revision-hash")
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": owner["metadata"]["namespace"],
                "labels": labels,
                "ownerReferences": [_owner(owner)],
            },
            "spec": {**copy.deepcopy(template.get("spec") or {}), **spec},
            "status": {"phase": "Pending"},
        }
        self.put("/pods", pod, None)

    def _random_name(self, base: str) -> str:
        return f"{base}-{''.join(random.choices(_SUFFIX, k=5))}"

    def deployment(self, deployment: dict[str, Any]) -> None:
        namespace = deployment["metadata"]["namespace"]
        revision = template_hash(deployment["spec"].get("template") or {})
        replicas = deployment["spec"].get("replicas", 1)
        sets = [rs for rs in self.list("apps/replicasets", namespace) if _owned_by(rs, deployment)]
        current = next((rs for rs in sets if rs["metadata"]["labels"].get("pod-template-hash") == revision), None)
        for rs in sets:
            if rs is not current and rs["spec"].get("replicas"):
                self.save("apps/replicasets", {**rs, "spec": {**rs["spec"], "replicas": 0}}, rs)
        name = f"{deployment['metadata']['name']}-{revision}"
        spec = {
            "replicas": replicas,
            "selector": deployment["spec"].get("selector") or {},
            "template": deployment["spec"].get("template") or {},
        }
        labels = {**((spec["template"].get("metadata") or {}).get("labels") or {}), "pod-template-hash": revision}
        wanted = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                **(copy.deepcopy(current["metadata"]) if current else {}),
                "name": name,
                "namespace": namespace,
                "labels": labels,
                "ownerReferences": [_owner(deployment)],
            },
            "spec": spec,
            "status": (current or {}).get("status", {}),
        }
        current = self.save("apps/replicasets", wanted, current)
        ready = self._count(self._pods(current), ready=True)
        available = ready
        old_pods = sum(len(self._pods(rs)) for rs in sets if rs["metadata"]["name"] != name)
        self._status(
            "apps/deployments",
            deployment,
            {
                "observedGeneration": deployment["metadata"]["generation"],
                "replicas": len(self._pods(current)) + old_pods,
                "updatedReplicas": len(self._pods(current)),
                "readyReplicas": ready,
                "availableReplicas": available,
                "unavailableReplicas": max(0, replicas - available),
                "conditions": [
                    self._condition(
                        "Available",
                        available >= replicas,
                        "MinimumReplicasAvailable" if available >= replicas else "MinimumReplicasUnavailable",
                        f"Deployment has {'minimum' if available >= replicas else 'not minimum'} availability.",
                    ),
                    self._condition(
                        "Progressing",
                        True,
                        "NewReplicaSetAvailable" if available >= replicas else "ReplicaSetUpdated",
                        f'ReplicaSet "{name}" is progressing.',
                    ),
                ],
            },
        )

    def _condition(self, type_: str, ok: bool, reason: str, message: str) -> dict[str, Any]:
        return {"type": type_, "status": "True" if ok else "False", "reason": reason, "message": message}

    def _count(self, pods: list[dict[str, Any]], ready: bool = False) -> int:
        def is_ready(pod: dict[str, Any]) -> bool:
            return any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (pod.get("status") or {}).get("conditions") or []
            )

        return sum(1 for p in pods if is_ready(p)) if ready else len(pods)

    def _status(self, key: str, obj: dict[str, Any], status: dict[str, Any]) -> None:
        if (obj.get("status") or {}) != status:
            self.save(key, {**obj, "status": status}, obj)

    def replicas(self, rs: dict[str, Any], key: str, replicas: int, revision: str) -> None:
        pods = self._pods(rs)
        for pod in pods[replicas:] if len(pods) > replicas else []:
            self.delete("/pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
        for _ in range(replicas - len(pods)):
            self._new_pod(rs, self._random_name(rs["metadata"]["name"]), revision)
        pods = self._pods(rs)
        ready = self._count(pods, ready=True)
        self._status(
            key,
            rs,
            {
                "replicas": len(pods),
                "readyReplicas": ready,
                "availableReplicas": ready,
                "fullyLabeledReplicas": len(pods),
                "observedGeneration": rs["metadata"]["generation"],
            },
        )

    def statefulset(self, sts: dict[str, Any]) -> None:
        name, namespace = sts["metadata"]["name"], sts["metadata"]["namespace"]
        revision = f"{name}-{template_hash(sts['spec'].get('template') or {})}"
        replicas = sts["spec"].get("replicas", 1)
        pods = {p["metadata"]["name"]: p for p in self._pods(sts)}
        for pod_name, pod in pods.items():
            index = int(pod_name.rsplit("-", 1)[1])
            if index >= replicas or pod["metadata"]["labels"].get("controller-revision-hash") != revision:
                self.delete("/pods", namespace, pod_name)
        templates = sts["spec"].get("volumeClaimTemplates") or []
        for index in range(replicas):
            pod_name = f"{name}-{index}"
            volumes = []
            for claim in templates:
                claim_name = f"{claim['metadata']['name']}-{pod_name}"
                if self.get("/persistentvolumeclaims", namespace, claim_name) is None:
                    labels = ((sts["spec"].get("selector") or {}).get("matchLabels")) or {}
                    self.put(
                        "/persistentvolumeclaims",
                        {
                            "apiVersion": "v1",
                            "kind": "PersistentVolumeClaim",
                            "metadata": {"name": claim_name, "namespace": namespace, "labels": labels},
                            "spec": copy.deepcopy(claim.get("spec") or {}),
                            "status": {"phase": "Pending"},
                        },
                        None,
                    )
                volumes.append({"name": claim["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim_name}})
            if self.get("/pods", namespace, pod_name) is None:
                template_volumes = (sts["spec"].get("template") or {}).get("spec", {}).get("volumes") or []
                self._new_pod(
                    sts,
                    pod_name,
                    revision,
                    hostname=pod_name,
                    subdomain=sts["spec"].get("serviceName"),
                    volumes=[*template_volumes, *volumes],
                )
        pods_now = self._pods(sts)
        ready = self._count(pods_now, ready=True)
        self._status(
            "apps/statefulsets",
            sts,
            {
                "observedGeneration": sts["metadata"]["generation"],
                "replicas": len(pods_now),
                "readyReplicas": ready,
                "availableReplicas": ready,
                "currentReplicas": len(pods_now),
                "updatedReplicas": len(pods_now),
                "currentRevision": revision,
                "updateRevision": revision,
            },
        )

    def daemonset(self, ds: dict[str, Any]) -> None:
        namespace = ds["metadata"]["namespace"]
        template = ds["spec"].get("template") or {}
        revision = template_hash(template)
        selector = (template.get("spec") or {}).get("nodeSelector") or {}
        eligible = [
            n
            for n in self.ready_nodes
            if _tolerates(template.get("spec") or {}, n["spec"].get("taints") or [])
            and all(n["metadata"]["labels"].get(k) == v for k, v in selector.items())
        ]
        names = {n["metadata"]["name"] for n in eligible}
        placed: set[str] = set()
        for pod in self._pods(ds):
            node = pod["spec"].get("nodeName")
            stale = pod["metadata"]["labels"].get("controller-revision-hash") != revision
            if node not in names or node in placed or stale:
                self.delete("/pods", namespace, pod["metadata"]["name"])
            else:
                placed.add(node)
        for node in sorted(names - placed):
            self._new_pod(ds, self._random_name(ds["metadata"]["name"]), revision, nodeName=node)
        pods = self._pods(ds)
        ready = self._count(pods, ready=True)
        self._status(
            "apps/daemonsets",
            ds,
            {
                "observedGeneration": ds["metadata"]["generation"],
                "desiredNumberScheduled": len(names),
                "currentNumberScheduled": len(pods),
                "updatedNumberScheduled": len(pods),
                "numberReady": ready,
                "numberAvailable": ready,
                "numberUnavailable": len(names) - ready,
                "numberMisscheduled": 0,
            },
        )

    def job(self, job: dict[str, Any]) -> None:
        pods = self._pods(job)
        succeeded = sum(1 for p in pods if p["status"].get("phase") == "Succeeded")
        completions = job["spec"].get("completions", 1)
        if not pods and succeeded < completions:
            revision = template_hash(job["spec"].get("template") or {})
            self._new_pod(job, self._random_name(job["metadata"]["name"]), revision)
            pods = self._pods(job)
        status: dict[str, Any] = {
            "active": sum(1 for p in pods if p["status"].get("phase") in ("Pending", "Running")),
            "succeeded": succeeded,
            "startTime": job["metadata"]["creationTimestamp"],
        }
        if succeeded >= completions:
            previous = job.get("status") or {}
            status["completionTime"] = previous.get("completionTime") or store.now_iso()
            status["conditions"] = [{"type": "Complete", "status": "True"}]
            status["active"] = 0
        self._status("batch/jobs", job, status)

    def claims(self) -> None:
        classes = self.list("storage.k8s.io/storageclasses")
        default = next(
            (
                c
                for c in classes
                if (c["metadata"].get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true"
            ),
            None,
        )
        for claim in self.list("/persistentvolumeclaims"):
            if (claim.get("status") or {}).get("phase") == "Bound":
                continue
            class_name = claim["spec"].get("storageClassName") or (default or {}).get("metadata", {}).get("name")
            if not class_name or not any(c["metadata"]["name"] == class_name for c in classes):
                continue
            volume = f"pvc-{claim['metadata']['uid']}"
            size = ((claim["spec"].get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
            self.put(
                "/persistentvolumes",
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolume",
                    "metadata": {"name": volume},
                    "spec": {
                        "capacity": {"storage": size},
                        "accessModes": claim["spec"].get("accessModes", []),
                        "storageClassName": class_name,
                        "claimRef": {
                            "namespace": claim["metadata"]["namespace"],
                            "name": claim["metadata"]["name"],
                            "uid": claim["metadata"]["uid"],
                        },
                    },
                    "status": {"phase": "Bound"},
                },
                None,
            )
            spec = {**claim["spec"], "volumeName": volume, "storageClassName": class_name}
            self.save(
                "/persistentvolumeclaims",
                {**claim, "spec": spec, "status": {"phase": "Bound", "capacity": {"storage": size}}},
                claim,
            )

    # ---- the agent's pods, run for real (runtime.py) -------------------------------------------------

    def agents(self, server_name: str) -> float | None:
        runtime = self.c.runtime
        if runtime is None:
            return None
        pods = {pod["metadata"]["uid"]: pod for pod in self.list("/pods") if runtime.runs(pod)}
        return runtime.sync(self.tx.cluster_id, server_name, pods, self.launch)

    def launch(self, pod: dict[str, Any]) -> Launch:
        """What the kubelet gives the agent's container: its environment and its service account's token."""
        namespace, cluster_id = pod["metadata"]["namespace"], self.tx.cluster_id
        container = next(c for c in pod["spec"]["containers"] if c.get("image") == self.c.runtime.image)  # type: ignore[union-attr]
        env = {var["name"]: self._env_value(pod, var) for var in container.get("env") or []}
        account = pod["spec"].get("serviceAccountName") or "default"
        key = self.c.directory.account_keys(cluster_id)[0]
        try:
            minted = serviceaccounts.mint(
                self.tx, key, namespace, account, {"spec": {"expirationSeconds": TOKEN_SECONDS}}
            )
        except ApiError as err:
            raise NotStartable(err.message) from None
        return Launch({k: v for k, v in env.items() if v is not None}, minted["status"]["token"],
                      self.c.directory.ca_cert(cluster_id), namespace)  # fmt: skip

    def _env_value(self, pod: dict[str, Any], var: dict[str, Any]) -> str | None:
        if "value" in var:
            return str(var["value"])
        source = var.get("valueFrom") or {}
        namespace = pod["metadata"]["namespace"]
        for ref_key, resource, kind in (("secretKeyRef", "/secrets", "secret"),
                                        ("configMapKeyRef", "/configmaps", "configmap")):  # fmt: skip
            ref = source.get(ref_key)
            if ref is None:
                continue
            found = self.tx.get(resource, namespace, ref["name"])
            data = (found or {}).get("data") or {}
            if ref["key"] not in data:
                if ref.get("optional"):
                    return None
                raise NotStartable(f'{kind} "{ref["name"]}" has no key "{ref["key"]}" (or is not found)')
            value = data[ref["key"]]
            return base64.b64decode(value).decode() if resource == "/secrets" else value
        path = (source.get("fieldRef") or {}).get("fieldPath", "")
        fields = {"metadata.name": pod["metadata"]["name"], "metadata.namespace": namespace,
                  "spec.nodeName": pod["spec"].get("nodeName"), "spec.serviceAccountName": pod["spec"].get(
                      "serviceAccountName"), "status.podIP": (pod.get("status") or {}).get("podIP")}  # fmt: skip
        return fields.get(path)

    # ---- scheduler and kubelet ---------------------------------------------------------------------

    def pods(self) -> float | None:
        """Schedule and start pods; the delay until a pod's next transition, or None if none is due."""
        nodes = {n["metadata"]["name"]: n for n in self.ready_nodes}
        next_due: float | None = None
        for pod in self.list("/pods"):
            wait = self.pod(pod, nodes)
            if wait is not None:
                next_due = wait if next_due is None else min(next_due, wait)
        return next_due

    def pod(self, pod: dict[str, Any], nodes: dict[str, dict[str, Any]]) -> float | None:
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            return None
        node = pod["spec"].get("nodeName")
        if node and node not in nodes:
            self.delete("/pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
            return 0.0
        if not node:
            node, reason = self.schedule(pod, nodes)
            if node is None:
                self._pod_status(
                    pod,
                    {
                        "phase": "Pending",
                        "conditions": [
                            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": reason}
                        ],
                    },
                )
                return None
            pod = self.save("/pods", {**pod, "spec": {**pod["spec"], "nodeName": node}}, pod)
        uid = pod["metadata"]["uid"]
        scheduled = self.c._scheduled_at.setdefault(uid, self.now)
        left = scheduled + self.c.pod_start - self.now
        if left > 0:
            return left
        containers = pod["spec"].get("containers") or []
        errors = {c["name"]: _pull_error(c.get("image", "")) for c in containers}
        failing = [name for name, error in errors.items() if error]
        if any(errors.values()):
            backoff = self.now - scheduled > 2 * self.c.pod_start
            statuses = [self._container(c, self._waiting(c, errors[c["name"]], backoff)) for c in containers]
            self._pod_status(
                pod,
                {
                    "phase": "Pending",
                    "conditions": [
                        {"type": "PodScheduled", "status": "True"},
                        {
                            "type": "Ready",
                            "status": "False",
                            "reason": "ContainersNotReady",
                            "message": f"containers with unready status: [{' '.join(failing)}]",
                        },
                    ],
                    "containerStatuses": statuses,
                },
            )
            return None if backoff else self.c.pod_start + 0.01
        self.c._scheduled_at.pop(uid, None)
        job = any(r.get("kind") == "Job" for r in pod["metadata"].get("ownerReferences") or [])
        state = {"terminated": {"exitCode": 0, "reason": "Completed"}} if job else {"running": {}}
        self._pod_status(
            pod,
            {
                "phase": "Succeeded" if job else "Running",
                "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "False" if job else "True"},
                ],
                "containerStatuses": [self._container(c, state, ready=not job) for c in containers],
                "hostIP": "10.0.0.1",
                "podIP": f"192.168.{random.randint(0, 255)}.{random.randint(1, 254)}"
                if not status.get("podIP")
                else status["podIP"],
            },
        )
        return None

    def _waiting(self, container: dict[str, Any], error: str | None, backoff: bool) -> dict[str, Any]:
        if not error:
            return {"waiting": {"reason": "PodInitializing"}}
        if backoff:
            return {
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": f'Back-off pulling image "{container.get("image")}"',
                }
            }
        return {"waiting": {"reason": "ErrImagePull", "message": error}}

    def _container(self, container: dict[str, Any], state: dict[str, Any], ready: bool = False) -> dict[str, Any]:
        image = container.get("image", "")
        return {
            "name": container["name"],
            "image": image,
            "imageID": f"{image}@sha256:{'0' * 64}" if ready else "",
            "ready": ready,
            "restartCount": 0,
            "started": ready,
            "state": state,
        }

    def _pod_status(self, pod: dict[str, Any], status: dict[str, Any]) -> None:
        if (pod.get("status") or {}) != status:
            self.save("/pods", {**pod, "status": status}, pod)

    def schedule(self, pod: dict[str, Any], nodes: dict[str, dict[str, Any]]) -> tuple[str | None, str]:
        namespace = pod["metadata"]["namespace"]
        for volume in pod["spec"].get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                found = self.get("/persistentvolumeclaims", namespace, claim)
                if found is None:
                    return None, f'persistentvolumeclaim "{claim}" not found'
                if (found.get("status") or {}).get("phase") != "Bound":
                    return None, "pod has unbound immediate PersistentVolumeClaims (no storage class can bind them)"
        selector = pod["spec"].get("nodeSelector") or {}
        affinity = (pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}
        fits, tainted = [], 0
        for name, node in sorted(nodes.items()):
            if node["spec"].get("unschedulable"):  # cordoned
                continue
            labels = node["metadata"].get("labels") or {}
            if any(labels.get(k) != v for k, v in selector.items()):
                continue
            terms = (affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get(
                "nodeSelectorTerms"
            ) or []
            if terms and not any(
                matches_label_selector({"matchExpressions": t.get("matchExpressions") or []}, labels) for t in terms
            ):
                continue
            if not _tolerates(pod["spec"], node["spec"].get("taints") or []):
                tainted += 1
                continue
            fits.append(name)
        if not fits:
            return None, (
                f"0/{len(nodes)} nodes are available: {tainted} node(s) had untolerated taint "
                "{node-role.kubernetes.io/control-plane: }, "
                f"{len(nodes) - tainted} node(s) didn't match Pod's node affinity/selector."
            )
        load = {n: 0 for n in fits}
        for other in self.list("/pods"):
            if other["spec"].get("nodeName") in load:
                load[other["spec"]["nodeName"]] += 1
        return min(fits, key=lambda n: (load[n], n)), ""
