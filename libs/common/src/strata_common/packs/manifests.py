"""Kubernetes manifests of packs: `{{ values.x.y }}` substitution and structural validation."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from strata_common import yamltext

_PLACEHOLDER = re.compile(r"\{\{\s*values\.([A-Za-z0-9_.-]+)\s*\}\}")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_WORKLOADS = ("Deployment", "DaemonSet", "StatefulSet")
_RBAC = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass", "CSIDriver",
    "PriorityClass", "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "Node",
    "PersistentVolume",
}  # fmt: skip


class ManifestError(ValueError):
    """A manifest is not a valid Kubernetes object; the message names the file and object."""


def lookup(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(path)
        node = node[part]
    return node


def render(text: str, values: dict[str, Any]) -> str:
    """Replace each `{{ values.a.b }}` with the value (scalars as text, lists and maps as JSON/YAML flow)."""

    def substitute(match: re.Match[str]) -> str:
        try:
            value = lookup(values, match[1])
        except KeyError:
            raise ManifestError(f"manifest uses values.{match[1]}, which the values do not define") from None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dict | list):
            return json.dumps(value)
        return str(value)

    return _PLACEHOLDER.sub(substitute, text)


def placeholders(text: str) -> list[str]:
    return _PLACEHOLDER.findall(text)


def parse_documents(text: str, source: str) -> list[dict[str, Any]]:
    try:
        docs = [d for d in yamltext.load_all(text) if d is not None]
    except yaml.YAMLError as err:
        raise ManifestError(f"{source}: not valid YAML: {err}") from None
    for doc in docs:
        validate_object(doc, source)
    return docs


def validate_object(obj: Any, source: str) -> None:
    """The checks an API server's validation would fail first: shape, names, workload templates."""
    if not isinstance(obj, dict):
        raise ManifestError(f"{source}: a document is not a mapping")
    for field in ("apiVersion", "kind"):
        if not isinstance(obj.get(field), str) or not obj[field]:
            raise ManifestError(f"{source}: object without {field}")
    kind = obj["kind"]
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        raise ManifestError(f"{source}: {kind} without metadata.name")
    name = metadata["name"]
    where = f"{source}: {kind} {name}"
    if kind in _RBAC:  # RBAC names are path segments: "system:auditor" is fine
        if not name or name in (".", "..") or "/" in name or "%" in name:
            raise ManifestError(f"{where}: metadata.name must be a path segment (no '/' or '%')")
    elif not _DNS_SUBDOMAIN.match(name):
        raise ManifestError(f"{where}: metadata.name must be a lowercase DNS subdomain")
    if kind in CLUSTER_SCOPED and "namespace" in metadata:
        raise ManifestError(f"{where}: a cluster-scoped object must not have metadata.namespace")
    for key in ("labels", "annotations"):
        if key in metadata and not all(isinstance(v, str) for v in (metadata[key] or {}).values()):
            raise ManifestError(f"{where}: every metadata.{key} value must be a string")
    if kind in _WORKLOADS:
        _validate_workload(obj, where)
    if kind in ("ClusterRole", "Role"):
        for i, rule in enumerate(obj.get("rules") or []):
            if not rule.get("verbs"):
                raise ManifestError(f"{where}: rules[{i}] has no verbs")
    if kind in ("ClusterRoleBinding", "RoleBinding"):
        ref = obj.get("roleRef") or {}
        if not {"apiGroup", "kind", "name"} <= ref.keys() or not obj.get("subjects"):
            raise ManifestError(f"{where}: needs roleRef {{apiGroup, kind, name}} and subjects")
    if kind == "Service":
        ports = (obj.get("spec") or {}).get("ports") or []
        if not ports or not all(isinstance(p.get("port"), int) for p in ports):
            raise ManifestError(f"{where}: spec.ports must list integer ports")


def _validate_workload(obj: dict[str, Any], where: str) -> None:
    spec = obj.get("spec") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector:
        raise ManifestError(f"{where}: spec.selector.matchLabels is required")
    if any(labels.get(k) != v for k, v in selector.items()):
        raise ManifestError(f"{where}: spec.selector does not match spec.template.metadata.labels")
    containers = (template.get("spec") or {}).get("containers") or []
    if not containers:
        raise ManifestError(f"{where}: spec.template.spec.containers is empty")
    for i, container in enumerate(containers):
        if not container.get("name") or not container.get("image"):
            raise ManifestError(f"{where}: containers[{i}] needs a name and an image")
    if obj["kind"] == "StatefulSet" and not spec.get("serviceName"):
        raise ManifestError(f"{where}: spec.serviceName is required")
