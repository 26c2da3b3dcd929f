"""The API resources the emulator serves: the built-in groups and the CRDs a cluster registers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CRD_RESOURCE = "apiextensions.k8s.io/customresourcedefinitions"
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
IN_ALL = {
    "/pods",
    "/services",
    "apps/deployments",
    "apps/replicasets",
    "apps/statefulsets",
    "apps/daemonsets",
    "batch/jobs",
    "batch/cronjobs",
}  # the category `all` (kubectl get all)


@dataclass(frozen=True)
class Resource:
    """One API resource: where it lives, what it is called and whether it is namespaced."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    status: bool = False  # has a /status subresource: the main endpoint keeps status as it is
    scale: bool = False  # has a /scale subresource (autoscaling/v1 Scale over spec.replicas)
    generation: bool = False  # keeps metadata.generation (bumped when the spec changes), as its real registry does

    @property
    def key(self) -> str:
        return f"{self.group}/{self.plural}"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def discovery(self) -> list[dict[str, Any]]:
        entry = {
            "name": self.plural,
            "singularName": self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": ALL_VERBS,
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        if self.key in IN_ALL:
            entry["categories"] = ["all"]
        entries = [entry]
        if self.status:
            entries.append({"name": f"{self.plural}/status", "singularName": "", "namespaced": self.namespaced,
                            "kind": self.kind, "verbs": ["get", "patch", "update"]})  # fmt: skip
        if self.scale:
            entries.append({"name": f"{self.plural}/scale", "singularName": "", "namespaced": self.namespaced,
                            "group": "autoscaling", "version": "v1", "kind": "Scale",
                            "verbs": ["get", "patch", "update"]})  # fmt: skip
        return entries


def _r(
    group: str,
    version: str,
    plural: str,
    kind: str,
    namespaced: bool = True,
    *short: str,
    status: bool = False,
    scale: bool = False,
    generation: bool = False,
) -> Resource:
    return Resource(group, version, plural, kind, namespaced, short, status, scale, generation)


BUILTIN: tuple[Resource, ...] = (
    _r("", "v1", "namespaces", "Namespace", False, "ns", status=True),
    _r("", "v1", "nodes", "Node", False, "no", status=True),
    _r("", "v1", "pods", "Pod", True, "po", status=True),
    _r("", "v1", "services", "Service", True, "svc", status=True),
    _r("", "v1", "endpoints", "Endpoints", True, "ep"),
    _r("", "v1", "configmaps", "ConfigMap", True, "cm"),
    _r("", "v1", "secrets", "Secret"),
    _r("", "v1", "serviceaccounts", "ServiceAccount", True, "sa"),
    _r("", "v1", "events", "Event", True, "ev"),
    _r("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, "pvc", status=True),
    _r("", "v1", "persistentvolumes", "PersistentVolume", False, "pv", status=True),
    _r("apps", "v1", "deployments", "Deployment", True, "deploy", status=True, scale=True, generation=True),
    _r("apps", "v1", "replicasets", "ReplicaSet", True, "rs", status=True, scale=True, generation=True),
    _r("apps", "v1", "statefulsets", "StatefulSet", True, "sts", status=True, scale=True, generation=True),
    _r("apps", "v1", "daemonsets", "DaemonSet", True, "ds", status=True, generation=True),
    _r("batch", "v1", "jobs", "Job", status=True, generation=True),
    _r("batch", "v1", "cronjobs", "CronJob", True, "cj", status=True, generation=True),
    _r("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    _r("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    _r("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _r("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _r("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, "netpol", generation=True),
    _r("networking.k8s.io", "v1", "ingresses", "Ingress", True, "ing", status=True, generation=True),
    _r("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, "sc"),
    _r("storage.k8s.io", "v1", "csidrivers", "CSIDriver", False),
    _r("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, "pc"),
    _r("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, "pdb", status=True, generation=True),
    _r("coordination.k8s.io", "v1", "leases", "Lease"),
    _r("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False, "crd", "crds",
       status=True, generation=True),
)  # fmt: skip

_BY_PATH = {(r.group, r.version, r.plural): r for r in BUILTIN}
BUILTIN_GROUPS: dict[str, list[str]] = {}
for _res in BUILTIN:
    BUILTIN_GROUPS.setdefault(_res.group, [])
    if _res.version not in BUILTIN_GROUPS[_res.group]:
        BUILTIN_GROUPS[_res.group].append(_res.version)


def builtin(group: str, version: str, plural: str) -> Resource | None:
    return _BY_PATH.get((group, version, plural))


def by_key(key: str) -> Resource | None:
    """A built-in resource by its storage key ("apps/deployments")."""
    return next((r for r in BUILTIN if r.key == key), None)


def keeps_generation(key: str) -> bool:
    """Whether objects stored under `key` carry metadata.generation: workloads, policies, CRDs and every
    custom resource do; ConfigMaps, Secrets, Services, RBAC and most core kinds do not."""
    found = by_key(key)
    return found is None or found.generation


def from_crd(crd: dict[str, Any]) -> list[Resource]:
    """The resources a CustomResourceDefinition serves, one per served version."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    has_status = lambda v: "status" in (v.get("subresources") or {})  # noqa: E731
    return [
        Resource(spec["group"], v["name"], names["plural"], names["kind"], spec.get("scope") == "Namespaced",
                 tuple(names.get("shortNames") or ()), has_status(v), generation=True)
        for v in spec.get("versions") or [] if v.get("served", True)
    ]  # fmt: skip


def validate_crd(crd: dict[str, Any]) -> str | None:
    """Why a CRD is invalid (its name must be plural.group, it needs names, scope and versions), else None."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    if not spec.get("group") or not names.get("plural") or not names.get("kind"):
        return "spec.group, spec.names.plural and spec.names.kind are required"
    if crd["metadata"]["name"] != f"{names['plural']}.{spec['group']}":
        return f'metadata.name: must be spec.names.plural+"."+spec.group ({names["plural"]}.{spec["group"]})'
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        return "spec.scope: must be Namespaced or Cluster"
    versions = spec.get("versions") or []
    if not versions or sum(1 for v in versions if v.get("storage")) != 1:
        return "spec.versions: must list versions with exactly one storage version"
    return None
