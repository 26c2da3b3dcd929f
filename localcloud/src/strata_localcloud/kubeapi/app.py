"""The Kubernetes REST API of the emulated clusters, under /clusters/{cluster id}: discovery, CRUD,
list with selectors and paging, watch, merge/strategic/JSON patches and server-side apply.

Errors are Status objects with the reason and code a real API server gives.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import random
import string
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from psycopg_pool import ConnectionPool
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from strata_common import yamltext
from strata_common.notify import Notifier
from strata_localcloud.kubeapi import (
    defaults,
    disruption,
    merging,
    openapi,
    protobuf,
    rbac,
    serviceaccounts,
    store,
    tables,
)
from strata_localcloud.kubeapi.clusters import ClusterDirectory, ClusterInfo
from strata_localcloud.kubeapi.errors import ApiError, status_body
from strata_localcloud.kubeapi.resources import (
    BUILTIN,
    BUILTIN_GROUPS,
    CRD_RESOURCE,
    Resource,
    builtin,
    from_crd,
    validate_crd,
)
from strata_localcloud.kubeapi.selectors import field_selector, label_selector
from strata_localcloud.kubeapi.serviceaccounts import User

log = logging.getLogger(__name__)
APPLY = "application/apply-patch+yaml"
PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json",
               "application/json-patch+json", APPLY)  # fmt: skip
_NAME_CHARS = string.ascii_lowercase + string.digits
BOOKMARK_SECONDS = 5.0  # a quiet watch that allows bookmarks gets one this often


class DryRun(Exception):
    """Raised inside a write transaction to roll it back and answer with what would have been stored."""

    def __init__(self, status: int, body: dict[str, Any]):
        super().__init__("dry run")
        self.status, self.body = status, body


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json")


@dataclass
class Target:
    """What a request path names."""

    resource: Resource
    namespace: str | None  # None: all namespaces (list) or a cluster-scoped resource
    name: str | None
    subresource: str | None


class KubeApi:
    """The WSGI application. `directory` tells which cluster a request may reach; the controllers
    hear of every request to a cluster (`on_request`) and of every stored change (`on_write`)."""

    def __init__(self, pool: ConnectionPool, notifier: Notifier, directory: ClusterDirectory,
                 on_write: Callable[[str, str], None] = lambda cluster_id, resource: None,
                 on_request: Callable[[str], None] = lambda cluster_id: None):  # fmt: skip
        self.pool = pool
        self.notifier = notifier
        self.directory = directory
        self.on_write = on_write
        self.on_request = on_request
        self._bootstrapped: set[str] = set()

    def bootstrap(self, cluster_id: str) -> None:
        """What kubeadm leaves in a new cluster: system namespaces, priority classes, the kubernetes Service."""
        with store.transaction(self.pool, cluster_id) as tx:
            for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
                if tx.get("/namespaces", "", name) is None:
                    tx.put("/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {
                        "name": name, "labels": {"kubernetes.io/metadata.name": name}},
                        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}, None)  # fmt: skip
            for name, value in (("system-node-critical", 2000001000), ("system-cluster-critical", 2000000000)):
                if tx.get("scheduling.k8s.io/priorityclasses", "", name) is None:
                    tx.put("scheduling.k8s.io/priorityclasses", {"apiVersion": "scheduling.k8s.io/v1",
                           "kind": "PriorityClass", "metadata": {"name": name}, "value": value}, None)  # fmt: skip
            if tx.get("/services", "default", "kubernetes") is None:
                tx.put("/services", {"apiVersion": "v1", "kind": "Service", "metadata": {
                    "name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver"}},
                    "spec": {"clusterIP": "10.96.0.1", "type": "ClusterIP",
                             "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}},
                    None)  # fmt: skip
        self._bootstrapped.add(cluster_id)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        request = Request(environ)
        try:
            response = self.dispatch(request, environ)
        except ApiError as err:
            response = json_response(status_body(err.code, err.reason, err.message, err.details), err.code)
        except HTTPException as err:
            response = json_response(status_body(err.code or 400, "BadRequest", err.description or ""), err.code or 400)
        except Exception:
            log.exception("request %s %s failed", request.method, request.path)
            response = json_response(status_body(500, "InternalError", "internal error"), 500)
        return response(environ, start_response)

    # ---- routing --------------------------------------------------------------------------------------

    def dispatch(self, request: Request, environ: dict[str, Any]) -> Response:
        parts = [p for p in request.path.split("/") if p]
        if parts == ["healthz"]:
            return Response("ok", mimetype="text/plain")
        if len(parts) < 2 or parts[0] != "clusters":
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({request.path})")
        cluster, user = self.directory.authenticate(parts[1], environ)
        if cluster.id not in self._bootstrapped:
            self.bootstrap(cluster.id)
        self.on_request(cluster.id)
        rest = parts[2:]
        if request.method == "GET":
            if rest == ["version"]:
                return json_response(cluster.version_info())
            if rest in (["healthz"], ["readyz"], ["livez"]):
                return Response("ok", mimetype="text/plain")
            if rest == ["api"]:
                return json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}]})  # fmt: skip
            if rest == ["apis"]:
                return json_response(self.group_list(cluster.id))
            if len(rest) in (2, 3) and rest[0] in ("api", "apis") and self._is_group_version(cluster.id, rest):
                return json_response(self.resource_list(cluster.id, rest))
            if len(rest) == 2 and rest[0] == "apis":
                group = next((g for g in self.group_list(cluster.id)["groups"] if g["name"] == rest[1]), None)
                if group:
                    return json_response({"kind": "APIGroup", "apiVersion": "v1", **group})
            if rest[:2] == ["openapi", "v3"]:
                return json_response(self.openapi(cluster, rest[2:]))
        target = self.target(cluster.id, rest)
        self.authorize(request, cluster.id, user, target)
        return self.serve(request, cluster.id, target)

    def authorize(self, request: Request, cluster_id: str, user: User, target: Target) -> None:
        """RBAC (system:masters, the admin kubeconfig's group, may do anything)."""
        if user.superuser:
            return
        watch = request.args.get("watch") in ("1", "true", "True")
        res = target.resource
        attrs = rbac.Attributes(rbac.verb_of(request.method, target.name is not None, watch), res.group,
                                res.plural + (f"/{target.subresource}" if target.subresource else ""),
                                target.namespace, target.name)  # fmt: skip
        with self.pool.connection() as conn:
            if not rbac.allowed(store.Tx(conn, cluster_id), user, attrs):
                raise ApiError(403, "Forbidden", attrs.describe(user), {"name": target.name or "", "group": res.group,
                               "kind": res.plural})  # fmt: skip

    def openapi(self, cluster: ClusterInfo, rest: list[str]) -> dict[str, Any]:
        resources = self._all_resources(cluster.id)
        if not rest:
            return openapi.index(f"/clusters/{cluster.id}", resources)
        if rest[0] in ("api", "apis") and self._is_group_version(cluster.id, rest):
            group, version = ("", rest[1]) if rest[0] == "api" else (rest[1], rest[2])
            return openapi.document(group, version, resources, cluster.version)
        raise ApiError(404, "NotFound", f"no OpenAPI document for {'/'.join(rest)}")

    def _all_resources(self, cluster_id: str) -> list[Resource]:
        with self.pool.connection() as conn:
            custom = [r for crd in store.crds(conn, cluster_id) if _established(crd) for r in from_crd(crd)]
        return [*BUILTIN, *custom]

    def _is_group_version(self, cluster_id: str, rest: list[str]) -> bool:
        if rest[0] == "api":
            return rest == ["api", "v1"]
        return len(rest) == 3 and any(
            r.group == rest[1] and r.version == rest[2] for r in self._all_resources(cluster_id)
        )

    def group_list(self, cluster_id: str) -> dict[str, Any]:
        versions: dict[str, list[str]] = {g: list(v) for g, v in BUILTIN_GROUPS.items() if g}
        for res in self._all_resources(cluster_id):
            if res.group and res.version not in versions.setdefault(res.group, []):
                versions[res.group].append(res.version)
        groups = [
            {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
             "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]}}
            for g, vs in versions.items()
        ]  # fmt: skip
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def resource_list(self, cluster_id: str, rest: list[str]) -> dict[str, Any]:
        group, version = ("", "v1") if rest[0] == "api" else (rest[1], rest[2])
        resources = [e for r in self._all_resources(cluster_id) if (r.group, r.version) == (group, version)
                     for e in r.discovery()]  # fmt: skip
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version, "resources": resources}  # fmt: skip

    def target(self, cluster_id: str, rest: list[str]) -> Target:
        if rest[:2] == ["api", "v1"]:
            group, version, tail = "", "v1", rest[2:]
        elif len(rest) >= 3 and rest[0] == "apis":
            group, version, tail = rest[1], rest[2], rest[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        namespace = None
        if len(tail) >= 3 and tail[0] == "namespaces" and tail[2] not in ("status", "finalize"):
            namespace, tail = tail[1], tail[2:]
        if not tail or len(tail) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        resource = self.resource(cluster_id, group, version, tail[0])
        name = tail[1] if len(tail) > 1 else None
        sub = tail[2] if len(tail) > 2 else None
        eviction = resource.key == "/pods" and name is not None
        token = resource.key == "/serviceaccounts" and name is not None
        if not {None: True, "status": resource.status, "scale": resource.scale, "eviction": eviction,
                "token": token}.get(sub, False):  # fmt: skip
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({tail[0]}/{sub})")
        if resource.namespaced and name is not None and namespace is None:
            raise ApiError(404, "NotFound", f"{resource.plural} is namespaced: use /namespaces/NAMESPACE/...")
        if not resource.namespaced and namespace is not None:
            raise ApiError(404, "NotFound", f"{resource.plural} is not namespaced")
        return Target(resource, namespace, name, sub)

    def resource(self, cluster_id: str, group: str, version: str, plural: str) -> Resource:
        found = builtin(group, version, plural) or next(
            (r for r in self._all_resources(cluster_id) if (r.group, r.version, r.plural) == (group, version, plural)),
            None,
        )
        if found is None:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({group}/{version}, "
                           f"Resource={plural})")  # fmt: skip
        return found

    # ---- verbs ------------------------------------------------------------------------------------------

    def serve(self, request: Request, cluster_id: str, target: Target) -> Response:
        method = request.method
        if target.subresource == "scale":
            return json_response(*self.scale(request, cluster_id, target))
        if target.subresource == "token":  # TokenRequest: nothing is stored
            if method != "POST":
                raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on serviceaccounts/token")
            key = self.directory.account_keys(cluster_id)[0]
            with self.pool.connection() as conn:
                minted = serviceaccounts.mint(store.Tx(conn, cluster_id), key, target.namespace or "",
                                              target.name or "", self.body(request))  # fmt: skip
            return json_response(minted, 201)
        if target.subresource == "eviction":
            if method != "POST":
                raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on pods/eviction")
            body = self.body(request)
            namespace, name = target.namespace or "", target.name or ""
            if not isinstance(body, dict) or (body.get("metadata") or {}).get("name") not in (None, name):
                raise ApiError(400, "BadRequest", "the eviction's metadata.name must be the pod's name")
            return json_response(
                *reversed(
                    self.write(
                        cluster_id,
                        target,
                        request.args.get("dryRun") == "All",
                        lambda tx: (201, disruption.evict(tx, namespace, name)),
                    )
                )
            )
        as_table = method == "GET" and tables.wants_table(request.headers.get("Accept", ""))
        if method == "GET" and target.name is None:
            if request.args.get("watch") in ("1", "true", "True"):
                return self.watch(request, cluster_id, target, as_table)
            listed = self.list(request, cluster_id, target)
            if as_table:
                return json_response(tables.table(target.resource.key, listed["items"], listed["metadata"]))
            return json_response(listed)
        if method == "GET":
            obj = self.get(cluster_id, target)
            if as_table and target.subresource is None:
                rv = {"resourceVersion": obj["metadata"]["resourceVersion"]}
                return json_response(tables.table(target.resource.key, [obj], rv))
            return json_response(obj)
        if method == "DELETE" and target.name is None:
            return json_response(self.delete_collection(request, cluster_id, target))
        if method == "DELETE":
            return json_response(self.delete(request, cluster_id, target))
        body = self.body(request)
        dry_run = request.args.get("dryRun") == "All"
        manager = request.args.get("fieldManager") or _manager_from_agent(request)
        if method == "POST" and target.name is None and target.subresource is None:
            status, obj = self.write(cluster_id, target, dry_run, lambda tx: self.create(tx, target, body, manager))
        elif method == "PUT" and target.name:
            status, obj = self.write(cluster_id, target, dry_run, lambda tx: self.replace(tx, target, body, manager))
        elif method == "PATCH" and target.name:
            kind = request.mimetype
            force = request.args.get("force") in ("true", "1")
            if kind == APPLY and not request.args.get("fieldManager"):
                raise ApiError(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required "
                               "value: is required for apply patch")  # fmt: skip
            status, obj = self.write(cluster_id, target, dry_run,
                                     lambda tx: self.patch(tx, target, kind, body, manager, force))  # fmt: skip
        else:
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on this path")
        return json_response(obj, status)

    def body(self, request: Request) -> Any:
        raw = request.get_data()
        try:
            if request.mimetype == protobuf.MEDIA_TYPE:
                return protobuf.decode(raw)
            if request.mimetype == APPLY or "yaml" in request.mimetype:
                return yamltext.load(raw) if raw else None
            return json.loads(raw) if raw else None
        except (ValueError, yaml.YAMLError) as err:
            raise ApiError(400, "BadRequest", f"the request body could not be decoded: {err}") from None

    def write(self, cluster_id: str, target: Target, dry_run: bool,
              action: Callable[[store.Tx], tuple[int, dict[str, Any]]]) -> tuple[int, dict[str, Any]]:  # fmt: skip
        try:
            with store.transaction(self.pool, cluster_id) as tx:
                status, obj = action(tx)
                if dry_run:
                    raise DryRun(status, obj)
        except DryRun as done:
            return done.status, done.body
        if tx.changed:
            self.on_write(cluster_id, target.resource.key)
        return status, obj

    def _key(self, target: Target, body: Any, name: str | None = None) -> tuple[str, str]:
        namespace = target.namespace or "" if target.resource.namespaced else ""
        meta = body.get("metadata") or {} if isinstance(body, dict) else {}
        return namespace, name or target.name or meta.get("name") or ""

    def _check_body(self, target: Target, body: Any) -> dict[str, Any]:
        res = target.resource
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the request body must be an object")
        if body.get("kind") not in (None, res.kind) or body.get("apiVersion") not in (None, res.api_version):
            raise ApiError(400, "BadRequest", f"the body is a {body.get('apiVersion')} {body.get('kind')}, "
                           f"the path names {res.api_version} {res.kind}")  # fmt: skip
        body = copy.deepcopy(body)
        body["kind"], body["apiVersion"] = res.kind, res.api_version
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "BadRequest", "metadata must be an object")
        if res.namespaced:
            if meta.get("namespace") not in (None, target.namespace):
                raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the "
                               "namespace sent on the request")  # fmt: skip
            meta["namespace"] = target.namespace
        else:
            meta.pop("namespace", None)
        for field in ("labels", "annotations"):
            if meta.get(field) is not None and not all(isinstance(v, str) for v in meta[field].values()):
                raise self.invalid(res, meta.get("name", ""), f"metadata.{field}: Invalid value: values must be "
                                   "strings")  # fmt: skip
        return body

    def invalid(self, res: Resource, name: str, message: str) -> ApiError:
        return ApiError(422, "Invalid", f'{res.kind} "{name}" is invalid: {message}',
                        {"name": name, "kind": res.kind, "group": res.group})  # fmt: skip

    def _prepare(self, tx: store.Tx, target: Target, body: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Checks a write must pass (the namespace exists, names are valid, CRDs are well-formed, immutable
        fields stay) and the defaults the API server fills in."""
        res, meta = target.resource, body["metadata"]
        name = meta.get("name", "")
        if not name or len(name) > 253 or name != name.strip() or "/" in name:
            raise self.invalid(res, name, "metadata.name: Required value: name or generateName is required")
        if old is None and res.status and res in BUILTIN:
            body.setdefault("status", {})  # a Go struct in the built-in kinds: there from the start, empty
        try:
            defaults.default(body, old, lambda: tx.list("/services"))
        except defaults.Invalid as err:
            raise self.invalid(res, name, str(err)) from None
        if res.namespaced and old is None and tx.get("/namespaces", "", target.namespace or "") is None:
            raise ApiError(404, "NotFound", f'namespaces "{target.namespace}" not found',
                           {"name": target.namespace, "kind": "namespaces"})  # fmt: skip
        if res.key == CRD_RESOURCE:
            problem = validate_crd(body)
            if problem:
                raise self.invalid(res, name, problem)
            body["status"] = {**(body.get("status") or {}), "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"}],
                "acceptedNames": body["spec"]["names"]}  # fmt: skip
        if res.key == "/namespaces":
            body.setdefault("spec", {"finalizers": ["kubernetes"]})
            body["status"] = {"phase": "Active"}
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name

    def create(self, tx: store.Tx, target: Target, body: Any, manager: str) -> tuple[int, dict[str, Any]]:
        body = self._check_body(target, body)
        meta = body["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(random.choices(_NAME_CHARS, k=5))
        namespace, name = self._key(target, body)
        if tx.get(target.resource.key, namespace, name) is not None:
            raise ApiError(
                409,
                "AlreadyExists",
                f'{target.resource.plural}.{target.resource.group or ""} "{name}" already exists'.replace('. "', ' "'),
                {"name": name, "kind": target.resource.plural},
            )
        for field in ("resourceVersion", "uid", "managedFields", "creationTimestamp"):
            meta.pop(field, None)
        if target.resource.status and target.resource.key != CRD_RESOURCE:
            body.pop("status", None)
        self._prepare(tx, target, body, None)
        merging.record_update(None, body, manager, store.now_iso())
        return 201, tx.put(target.resource.key, body, None)

    def _existing(self, tx: store.Tx, target: Target) -> dict[str, Any]:
        namespace, name = self._key(target, None)
        obj = tx.get(target.resource.key, namespace, name)
        if obj is None:
            raise self.not_found(target)
        return obj

    def not_found(self, target: Target) -> ApiError:
        res = target.resource
        what = f"{res.plural}.{res.group}" if res.group else res.plural
        return ApiError(404, "NotFound", f'{what} "{target.name}" not found', {"name": target.name, "kind": res.plural,
                        "group": res.group})  # fmt: skip

    def _store_update(self, tx: store.Tx, target: Target, old: dict[str, Any], new: dict[str, Any],
                      manager: str | None) -> dict[str, Any]:  # fmt: skip
        """Keep what the endpoint may not change (status or spec, system metadata), then store."""
        res = target.resource
        if target.subresource == "status":
            new = {**old, "status": new.get("status", old.get("status"))}
            new["metadata"] = copy.deepcopy(old["metadata"])
        elif res.status and res.key not in (CRD_RESOURCE, "/namespaces"):
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        new_meta = new.setdefault("metadata", {})
        for field in ("uid", "creationTimestamp", "name", "namespace"):
            if field in old["metadata"]:
                new_meta[field] = old["metadata"][field]
        if manager is not None:
            new_meta["managedFields"] = old["metadata"].get("managedFields", [])
            merging.record_update(old, new, manager, store.now_iso())
        self._prepare(tx, target, new, old)
        if _same(old, new):
            return old
        return tx.put(res.key, new, old)

    def replace(self, tx: store.Tx, target: Target, body: Any, manager: str) -> tuple[int, dict[str, Any]]:
        body = self._check_body(target, body)
        if body["metadata"].get("name") not in (None, target.name):
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        old = self._existing(tx, target)
        self._check_version(target, body, old)
        return 200, self._store_update(tx, target, old, body, manager)

    def _check_version(self, target: Target, wanted: dict[str, Any], old: dict[str, Any]) -> None:
        """A write that names a resourceVersion applies only to that version (optimistic concurrency)."""
        expected = (wanted.get("metadata") or {}).get("resourceVersion")
        if expected and expected != old["metadata"]["resourceVersion"]:
            raise self.conflict(target)

    def conflict(self, target: Target) -> ApiError:
        res = target.resource
        what = f"{res.plural}.{res.group}" if res.group else res.plural
        return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {what} "{target.name}": the object has '
                        "been modified; please apply your changes to the latest version and try again",
                        {"name": target.name, "kind": res.plural})  # fmt: skip

    def patch(self, tx: store.Tx, target: Target, kind: str, body: Any, manager: str,
              force: bool) -> tuple[int, dict[str, Any]]:  # fmt: skip
        if kind not in PATCH_TYPES:
            raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                           f"accepted media types include: {', '.join(PATCH_TYPES)}")  # fmt: skip
        namespace, name = self._key(target, None)
        old = tx.get(target.resource.key, namespace, name)
        if kind == APPLY:
            return self.apply(tx, target, old, body, manager, force)
        if old is None:
            raise self.not_found(target)
        new = self._patched(target, old, kind, body)
        new["kind"], new["apiVersion"] = old["kind"], old["apiVersion"]
        return 200, self._store_update(tx, target, old, new, manager)

    def _patched(self, target: Target, old: dict[str, Any], kind: str, body: Any) -> dict[str, Any]:
        """`old` with a JSON, merge or strategic merge patch applied, its resourceVersion precondition checked."""
        try:
            if kind == "application/json-patch+json":
                new = merging.json_patch(old, body)
            elif kind == "application/merge-patch+json":
                new = merging.merge_patch(old, body)
            else:
                new = merging.strategic_merge(old, body)
        except merging.PatchError as err:
            raise ApiError(422, "Invalid", str(err)) from None
        if not isinstance(new, dict):
            raise ApiError(400, "BadRequest", "the patch does not leave an object")
        self._check_version(target, new, old)
        return new

    def scale(self, request: Request, cluster_id: str, target: Target) -> tuple[dict[str, Any], int]:
        """GET, PUT or PATCH (any patch type but apply) of the autoscaling/v1 Scale over spec.replicas."""
        if request.method == "GET":
            return _scale_of(self.get(cluster_id, target)), 200
        if request.method not in ("PUT", "PATCH"):
            raise ApiError(405, "MethodNotAllowed", f"{request.method} is not supported on {target.resource.plural}"
                           "/scale")  # fmt: skip
        if request.method == "PATCH" and request.mimetype not in PATCH_TYPES[:3]:
            raise ApiError(415, "UnsupportedMediaType", f"the scale subresource accepts {', '.join(PATCH_TYPES[:3])}")
        body = self.body(request)
        manager = request.args.get("fieldManager") or _manager_from_agent(request)
        main = Target(target.resource, target.namespace, target.name, None)

        def rescale(tx: store.Tx) -> tuple[int, dict[str, Any]]:
            old = self._existing(tx, main)
            current = _scale_of(old)
            if request.method == "PUT":
                wanted = body if isinstance(body, dict) else {}
                self._check_version(target, wanted, old)
            else:
                wanted = self._patched(target, current, request.mimetype, body)
            replicas = (wanted.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise self.invalid(target.resource, target.name or "", f"spec.replicas: Invalid value: {replicas!r}: "
                                   "must be a non-negative integer")  # fmt: skip
            new = copy.deepcopy(old)
            new["spec"]["replicas"] = replicas
            return 200, _scale_of(self._store_update(tx, main, old, new, manager))

        status, scaled = self.write(cluster_id, main, request.args.get("dryRun") == "All", rescale)
        return scaled, status

    def apply(self, tx: store.Tx, target: Target, old: dict[str, Any] | None, body: Any, manager: str,
              force: bool) -> tuple[int, dict[str, Any]]:  # fmt: skip
        config = self._check_body(target, body)
        if config["metadata"].get("name") not in (None, target.name):
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        config["metadata"]["name"] = target.name
        if target.subresource != "status":
            config.pop("status", None) if target.resource.status and target.resource.key != CRD_RESOURCE else None
        for field in ("resourceVersion", "uid", "managedFields", "creationTimestamp", "generation"):
            config["metadata"].pop(field, None)
        try:
            merged = merging.apply(old, config, manager, force, store.now_iso())
        except merging.ApplyConflict as err:
            causes = [{"type": "FieldManagerConflict", "message": f'conflict with "{m}": {merging.dotted(p)}',
                       "field": merging.dotted(p)} for m, p in err.conflicts]  # fmt: skip
            listed = "\n".join(f"- {c['message']}" for c in causes)
            raise ApiError(
                409,
                "Conflict",
                f"Apply failed with {len(causes)} conflict"
                f"{'s' if len(causes) > 1 else ''}: {listed.replace(chr(10), ' ')}",
                {"name": target.name, "kind": target.resource.plural, "causes": causes},
            ) from None
        if old is None:
            if target.resource.status and target.resource.key != CRD_RESOURCE:
                merged.pop("status", None)
            self._prepare(tx, target, merged, None)
            return 201, tx.put(target.resource.key, merged, None)
        return 200, self._store_update(tx, target, old, merged, None)

    def get(self, cluster_id: str, target: Target) -> dict[str, Any]:
        namespace, name = self._key(target, None)
        with self.pool.connection() as conn:
            obj = store.Tx(conn, cluster_id).get(target.resource.key, namespace, name)
        if obj is None:
            if target.resource.key == "/nodes":  # asked for a node not registered yet: its kubelet may be up
                self.on_write(cluster_id, "/nodes")
            raise self.not_found(target)
        return obj

    def _filter(self, request: Request, target: Target) -> Callable[[dict[str, Any]], bool]:
        try:
            labels = label_selector(request.args.get("labelSelector"))
            fields = field_selector(request.args.get("fieldSelector"), target.resource.kind)
        except ValueError as err:
            raise ApiError(400, "BadRequest", str(err)) from None
        return lambda obj: labels(obj) and fields(obj)

    def list(self, request: Request, cluster_id: str, target: Target) -> dict[str, Any]:
        wanted = self._filter(request, target)
        limit = int(request.args.get("limit") or 0)
        after = _decode_continue(request.args.get("continue"))
        with self.pool.connection() as conn:
            rv, listed = store.snapshot(conn, cluster_id, target.resource.key, target.namespace)
        items = [o for o in listed if wanted(o)]
        if after:
            items = [o for o in items if _sort_key(o) > after]
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if limit and len(items) > limit:
            items = items[:limit]
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(_sort_key(items[-1])).encode()).decode()
            meta["remainingItemCount"] = None
        meta = {k: v for k, v in meta.items() if v is not None}
        return {"kind": f"{target.resource.kind}List", "apiVersion": target.resource.api_version, "metadata": meta,
                "items": items}  # fmt: skip

    def watch(self, request: Request, cluster_id: str, target: Target, as_table: bool) -> Response:
        wanted = self._filter(request, target)
        timeout = float(request.args.get("timeoutSeconds") or 1800)
        since = request.args.get("resourceVersion")
        streaming = request.args.get("sendInitialEvents") in ("1", "true")
        bookmarks = request.args.get("allowWatchBookmarks") in ("1", "true")
        _check_watch_list(streaming, bookmarks, request.args.get("resourceVersionMatch"))
        with self.pool.connection() as conn:
            horizon = store.compaction_horizon(conn)
            if since and since != "0" and not streaming:
                try:
                    start = int(since)
                except ValueError:
                    raise ApiError(400, "BadRequest", f"invalid resourceVersion {since!r}") from None
                if start < horizon:
                    raise ApiError(410, "Expired", f"too old resource version: {start} ({horizon})")
                initial: list[dict[str, Any]] = []
            else:
                start, listed = store.snapshot(conn, cluster_id, target.resource.key, target.namespace)
                initial = [o for o in listed if wanted(o)]
        res, namespace = target.resource, target.namespace

        def shown(obj: dict[str, Any]) -> dict[str, Any]:
            if not as_table:
                return obj
            return tables.table(res.key, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]})

        def stream() -> Iterator[bytes]:
            yield b""  # the status line and headers go out now, not with the first event
            deadline = time.monotonic() + timeout
            last, quiet_since = start, time.monotonic()
            for obj in initial:
                yield _event("ADDED", shown(obj))
            if streaming:  # a watch-list: the initial events end with this bookmark (KEP-3157)
                yield _event("BOOKMARK", {"kind": res.kind, "apiVersion": res.api_version, "metadata": {
                    "resourceVersion": str(start), "annotations": {"k8s.io/initial-events-end": "true"}}})  # fmt: skip
            while time.monotonic() < deadline and not self.notifier.closed:
                seen = self.notifier.version(cluster_id)
                with self.pool.connection() as conn:
                    batch = store.changes_after(conn, cluster_id, res.key, namespace, last)
                for change in batch:
                    last, quiet_since = change["resource_version"], time.monotonic()
                    if wanted(change["body"]):
                        yield _event(change["type"], shown(change["body"]))
                if bookmarks and time.monotonic() - quiet_since >= BOOKMARK_SECONDS:
                    quiet_since = time.monotonic()  # a bookmark also finds out whether the client is still there
                    yield _event("BOOKMARK", {"kind": res.kind, "apiVersion": res.api_version,
                                              "metadata": {"resourceVersion": str(last)}})  # fmt: skip
                if not batch:
                    self.notifier.wait(cluster_id, seen, min(BOOKMARK_SECONDS, max(0.0, deadline - time.monotonic())))

        return Response(stream(), mimetype="application/json", direct_passthrough=True)

    def delete(self, request: Request, cluster_id: str, target: Target) -> dict[str, Any]:
        namespace, name = self._key(target, None)

        def remove(tx: store.Tx) -> tuple[int, dict[str, Any]]:
            obj = tx.delete(target.resource.key, namespace, name)
            if obj is None:
                raise self.not_found(target)
            if target.resource.key == "/namespaces":
                obj["status"] = {"phase": "Terminating"}
                obj["metadata"]["deletionTimestamp"] = store.now_iso()
            return 200, obj

        return self.write(cluster_id, target, request.args.get("dryRun") == "All", remove)[1]

    def delete_collection(self, request: Request, cluster_id: str, target: Target) -> dict[str, Any]:
        wanted = self._filter(request, target)

        def remove(tx: store.Tx) -> tuple[int, dict[str, Any]]:
            gone = [tx.delete(target.resource.key, o["metadata"].get("namespace", ""), o["metadata"]["name"])
                    for o in tx.list(target.resource.key, target.namespace) if wanted(o)]  # fmt: skip
            return 200, {"kind": f"{target.resource.kind}List", "apiVersion": target.resource.api_version,
                         "metadata": {}, "items": [g for g in gone if g]}  # fmt: skip

        return self.write(cluster_id, target, request.args.get("dryRun") == "All", remove)[1]


def _scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    selector = (obj["spec"].get("selector") or {}).get("matchLabels") or {}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": obj["spec"].get("replicas", 1)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                       "selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items()))}}  # fmt: skip


def _event(type_: str, obj: dict[str, Any]) -> bytes:
    return (json.dumps({"type": type_, "object": obj}, separators=(",", ":")) + "\n").encode()


def _sort_key(obj: dict[str, Any]) -> list[str]:
    return [obj["metadata"].get("namespace", ""), obj["metadata"]["name"]]


def _check_watch_list(streaming: bool, bookmarks: bool, match: str | None) -> None:
    """A watch's list options as the API server validates them (apimachinery's ValidateListOptions)."""
    causes = []
    if streaming and match != "NotOlderThan":
        causes.append(
            ("resourceVersionMatch", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")
        )
    if streaming and not bookmarks:
        causes.append(("allowWatchBookmarks", "sendInitialEvents requires setting allowWatchBookmarks to true"))
    if match and not streaming:
        causes.append(("resourceVersionMatch", "resourceVersionMatch is forbidden for watch unless sendInitialEvents"))
    if causes:
        message = 'ListOptions.meta.k8s.io "" is invalid: ' + ", ".join(m for _, m in causes)
        forbidden = [{"reason": "FieldValueForbidden", "message": m, "field": f} for f, m in causes]
        details = {"group": "meta.k8s.io", "kind": "ListOptions", "causes": forbidden}
        raise ApiError(422, "Invalid", message, details)


def _decode_continue(token: str | None) -> list[str] | None:
    if not token:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        raise ApiError(400, "BadRequest", "the continue token is not one this server issued") from None


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """An update that changes nothing keeps the resourceVersion (managedFields times aside)."""

    def strip(obj: dict[str, Any]) -> dict[str, Any]:
        meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in ("resourceVersion", "generation")}
        meta["managedFields"] = [{k: v for k, v in m.items() if k != "time"} for m in meta.get("managedFields", [])]
        return {**obj, "metadata": meta}

    return strip(old) == strip(new)


def _established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def _manager_from_agent(request: Request) -> str:
    """The API server's default field manager: the user agent up to its first '/'."""
    agent = request.headers.get("User-Agent", "unknown")
    return agent.split("/", 1)[0][:128] or "unknown"
