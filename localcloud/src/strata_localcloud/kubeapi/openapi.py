"""The OpenAPI v3 documents of an emulated cluster: an index of group versions and, per group version,
its paths and operations with their query parameters and group-version-kind.

kubectl reads them to learn that the server takes `fieldValidation` (so it validates on the server
rather than downloading schemas). They carry no object schemas: the emulator does not validate
fields against a schema, and `kubectl explain` has nothing to show.
"""

from __future__ import annotations

from typing import Any

from strata_localcloud.kubeapi.resources import Resource

WRITE_PARAMETERS = ("dryRun", "fieldManager", "fieldValidation")


def group_version_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def index(prefix: str, resources: list[Resource]) -> dict[str, Any]:
    """GET /openapi/v3: each group version's document, by a URL relative to the server's root."""
    paths = {group_version_path(r.group, r.version) for r in resources}
    return {"paths": {p: {"serverRelativeURL": f"{prefix}/openapi/v3/{p}"} for p in sorted(paths)}}


def _parameters(*names: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "query", "schema": {"type": "string"}} for name in names]


def _operations(res: Resource, item: bool) -> dict[str, Any]:
    gvk = {"x-kubernetes-group-version-kind": {"group": res.group, "version": res.version, "kind": res.kind}}
    ok = {"responses": {"200": {"description": "OK"}}}
    if not item:
        return {"get": {**gvk, **ok, "parameters": _parameters("labelSelector", "fieldSelector", "limit", "continue",
                                                                "watch", "resourceVersion")},
                "post": {**gvk, **ok, "parameters": _parameters(*WRITE_PARAMETERS)}}  # fmt: skip
    return {"get": {**gvk, **ok}, "put": {**gvk, **ok, "parameters": _parameters(*WRITE_PARAMETERS)},
            "patch": {**gvk, **ok, "parameters": _parameters(*WRITE_PARAMETERS, "force")},
            "delete": {**gvk, **ok, "parameters": _parameters("dryRun")}}  # fmt: skip


def document(group: str, version: str, resources: list[Resource], server_version: str) -> dict[str, Any]:
    """The OpenAPI v3 document of one group version."""
    base = "/" + group_version_path(group, version)
    paths: dict[str, Any] = {}
    for res in resources:
        if (res.group, res.version) != (group, version):
            continue
        collection = f"{base}/namespaces/{{namespace}}/{res.plural}" if res.namespaced else f"{base}/{res.plural}"
        paths[collection] = _operations(res, item=False)
        paths[f"{collection}/{{name}}"] = _operations(res, item=True)
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": server_version}, "paths": paths,
            "components": {"schemas": {}}}  # fmt: skip
