"""The agent's system pack: what runs a pull-mode cluster's management agent. Namespace strata-system,
its ServiceAccount with the least RBAC it needs, and its Deployment (host network and tolerating NotReady
nodes, so it runs before the CNI it applies). The add-ons service applies it once to install the agent,
with the Secret holding the agent's token, which no desired state carries (the agent rotates the token
and writes the new one there). After that the pack is part of the agent's own desired state, right after
the CNI, so the agent keeps itself as the control plane wants it."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from strata_common.config import Settings
from strata_common.packs.rendering import PACK_LABEL

PACK, VERSION = "strata-agent", "0.1.0"
NAMESPACE, NAME = "strata-system", "strata-agent"
TOKEN_SECRET = "strata-agent-token"
AGENT_MANAGER = "strata-agent"  # the agent's field manager

# What the agent needs and nothing more. A pack may declare any kind (CRDs, RBAC, workloads), so applying
# and pruning packs takes get/list/create/update/patch/delete on every resource; creating the packs' Roles
# and bindings takes `escalate` and `bind` (RBAC refuses to grant what the writer does not hold). No watch,
# no deletecollection, no impersonation, no non-resource URL beyond discovery.
CLUSTER_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "create", "update", "patch", "delete"]},
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles", "roles"], "verbs": ["escalate"]},
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterrolebindings", "rolebindings"],
     "verbs": ["bind"]},
]  # fmt: skip
# Its token's Secret: read at start, written when it rotates the token (namespaced, that one Secret).
TOKEN_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [TOKEN_SECRET], "verbs": ["get", "update", "patch"]}
]


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {PACK_LABEL: PACK, "app.kubernetes.io/managed-by": "strata",
                                                     "app.kubernetes.io/name": "strata-agent"}}  # fmt: skip
    if namespace:
        meta["namespace"] = namespace
    return meta


def agent_objects(cluster_id: str, settings: Settings) -> list[dict[str, Any]]:
    """The pack's objects for this cluster (everything but the token's Secret)."""
    namespace, name = NAMESPACE, NAME
    env = [{"name": "STRATA_AGENT_API", "value": settings.agent_api_url},
           {"name": "STRATA_AGENT_CLUSTER", "value": cluster_id},
           {"name": "STRATA_AGENT_INTERVAL", "value": f"{settings.agent_interval:g}"},
           {"name": "STRATA_AGENT_TOKEN_SECRET", "value": f"{namespace}/{TOKEN_SECRET}"},
           {"name": "STRATA_AGENT_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": TOKEN_SECRET, "key": "token"}}},
           {"name": "STRATA_AGENT_TOKEN_EXPIRES",
            "valueFrom": {"secretKeyRef": {"name": TOKEN_SECRET, "key": "expiresAt", "optional": True}}}]  # fmt: skip
    labels = {"app.kubernetes.io/name": "strata-agent"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(namespace)},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, namespace)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": _meta(name),
         "rules": CLUSTER_RULES},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": _meta(name),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(name, namespace),
         "rules": TOKEN_RULES},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": _meta(name, namespace),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, namespace), "spec": {
            "replicas": 1, "strategy": {"type": "Recreate"},  # one agent applies at a time
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "serviceAccountName": name, "hostNetwork": True, "priorityClassName": "system-cluster-critical",
                "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"},
                                {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                                 "effect": "NoSchedule"}],
                "containers": [{"name": "agent", "image": settings.agent_image, "env": env,
                                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                              "limits": {"memory": "256Mi"}},
                                "securityContext": {"runAsNonRoot": True, "runAsUser": 65532,
                                                    "allowPrivilegeEscalation": False,
                                                    "readOnlyRootFilesystem": True,
                                                    "capabilities": {"drop": ["ALL"]}}}]}}}},
    ]  # fmt: skip


def token_secret(token: str, expires: datetime) -> dict[str, Any]:
    """The Secret with the agent's token and its expiry (not part of the pack: the agent rotates it)."""
    data = {"token": token, "expiresAt": expires.isoformat()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(TOKEN_SECRET, NAMESPACE), "type": "Opaque",
            "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}}  # fmt: skip
