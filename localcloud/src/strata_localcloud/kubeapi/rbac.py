"""RBAC as kube-apiserver's authorizer evaluates it (rbac.authorization.k8s.io/v1): a request is allowed
when a rule of a Role bound in the request's namespace, or of a ClusterRole bound cluster-wide or in that
namespace, matches its verb, API group, resource (`resource/subresource`) and name. `system:masters` is
allowed everything; discovery (`/api`, `/apis`, `/version`, `/openapi`) is open to every authenticated
user, as the default `system:discovery` binding makes it. Not emulated: aggregated ClusterRoles (their
`aggregationRule`) and the escalation checks on writing Roles and bindings (`escalate`, `bind`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strata_localcloud.kubeapi import store
from strata_localcloud.kubeapi.serviceaccounts import User

ROLES, CLUSTER_ROLES = "rbac.authorization.k8s.io/roles", "rbac.authorization.k8s.io/clusterroles"
BINDINGS, CLUSTER_BINDINGS = "rbac.authorization.k8s.io/rolebindings", "rbac.authorization.k8s.io/clusterrolebindings"


@dataclass(frozen=True)
class Attributes:
    verb: str
    group: str
    resource: str  # the plural, or "plural/subresource"
    namespace: str | None
    name: str | None

    def describe(self, user: User) -> str:
        """kube-apiserver's Forbidden message."""
        what = f'{self.resource.split("/")[0]} "{self.name}"' if self.name else self.resource.split("/")[0]
        where = f' in the namespace "{self.namespace}"' if self.namespace else " at the cluster scope"
        sub = f"/{self.resource.split('/')[1]}" if "/" in self.resource else ""
        return (f'{what} is forbidden: User "{user.name}" cannot {self.verb} resource '
                f'"{self.resource.split("/")[0]}{sub}" in API group "{self.group}"{where}')  # fmt: skip


def verb_of(method: str, named: bool, watch: bool) -> str:
    if method in ("GET", "HEAD"):
        return "watch" if watch else "get" if named else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, "delete" if named else "deletecollection")


def _subject_matches(subject: dict[str, Any], user: User, binding_namespace: str) -> bool:
    kind = subject.get("kind")
    if kind == "User":
        return subject.get("name") == user.name
    if kind == "Group":
        return subject.get("name") in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user.name == f"system:serviceaccount:{namespace}:{subject.get('name')}"
    return False


def _rule_matches(rule: dict[str, Any], attrs: Attributes) -> bool:
    def has(values: list[str] | None, value: str) -> bool:
        return bool(values) and ("*" in values or value in values)  # type: ignore[operator]

    plural, _, sub = attrs.resource.partition("/")
    resources = rule.get("resources") or []
    resource_ok = (
        "*" in resources
        or attrs.resource in resources
        or bool(sub and (f"{plural}/*" in resources or f"*/{sub}" in resources))
    )
    names = rule.get("resourceNames") or []
    return (has(rule.get("verbs"), attrs.verb) and has(rule.get("apiGroups"), attrs.group) and resource_ok
            and (not names or attrs.name in names))  # fmt: skip


def allowed(tx: store.Tx, user: User, attrs: Attributes) -> bool:
    if user.superuser:
        return True
    bindings = [(b, "") for b in tx.list(CLUSTER_BINDINGS)]
    if attrs.namespace:
        bindings += [(b, attrs.namespace) for b in tx.list(BINDINGS, attrs.namespace)]
    for binding, namespace in bindings:
        if not any(_subject_matches(s, user, namespace) for s in binding.get("subjects") or []):
            continue
        ref = binding.get("roleRef") or {}
        role = (tx.get(CLUSTER_ROLES, "", ref.get("name", "")) if ref.get("kind") == "ClusterRole"
                else tx.get(ROLES, namespace, ref.get("name", "")))  # fmt: skip
        if role and any(_rule_matches(rule, attrs) for rule in role.get("rules") or []):
            return True
    return False
