"""A small Kubernetes API client over one kept-alive HTTPS connection pool: discovery (kind to
resource), server-side apply, get, list and delete. Errors carry the API's Status reason."""

from __future__ import annotations

import json
import ssl
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import urllib3

from strata_common.kube.access import KubeAccess

APPLY = "application/apply-patch+yaml"


class KubeError(Exception):
    """The API answered with an error Status (or could not be reached: status 0)."""

    def __init__(self, status: int, reason: str, message: str, body: dict[str, Any] | None = None):
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message, self.body = status, reason, message, body or {}

    @property
    def causes(self) -> list[str]:
        """The Status's causes (a server-side apply conflict names each field another manager owns)."""
        return [c.get("message", "") for c in (self.body.get("details") or {}).get("causes") or []]


@lru_cache(maxsize=4096)
def _context(access: KubeAccess) -> ssl.SSLContext:
    """The TLS context of a cluster's credentials, made once per process (loading a key pair costs more
    than the request a health check makes)."""
    context = ssl.create_default_context(cadata=access.ca_cert)
    if not access.client_cert:  # a bearer token instead
        return context
    with tempfile.TemporaryDirectory() as folder:  # the ssl module loads a key pair only from files
        cert, key = Path(folder, "client.crt"), Path(folder, "client.key")
        cert.write_text(access.client_cert)
        key.touch(mode=0o600)
        key.write_text(access.client_key)
        context.load_cert_chain(cert, key)
    return context


class KubeClient:
    def __init__(self, access: KubeAccess, timeout: float = 30.0):
        url = urlsplit(access.server)
        self.prefix = url.path.rstrip("/")
        host = url.hostname or ""
        name = access.server_name or host
        self.http = urllib3.HTTPSConnectionPool(
            host, url.port or 443, ssl_context=_context(access), server_hostname=name, assert_hostname=name,
            maxsize=4, timeout=urllib3.Timeout(connect=5.0, read=timeout), retries=False,
        )  # fmt: skip
        self._resources: dict[str, list[dict[str, Any]]] = {}
        self.token_file = access.token_file

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                params: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        url = self.prefix + path + (f"?{urlencode(params)}" if params else "")
        headers = {"Accept": "application/json", "User-Agent": "strata/0.1"}
        if self.token_file:
            headers["Authorization"] = "Bearer " + Path(self.token_file).read_text().strip()
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        try:
            response = self.http.request(method, url, body=data, headers=headers)
        except urllib3.exceptions.HTTPError as err:
            raise KubeError(0, "Unreachable", f"the cluster's API at {self.http.host}:{self.http.port} did not "
                            f"answer: {err}") from None  # fmt: skip
        try:
            payload = json.loads(response.data) if response.data else {}
        except ValueError:
            payload = {"message": response.data[:200].decode(errors="replace")}
        if response.status >= 400:
            raise KubeError(response.status, payload.get("reason", "Error"), payload.get("message", ""), payload)
        return payload

    # ---- discovery -------------------------------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(collection path without namespace, namespaced) of a kind; discovery is re-read once on a miss
        (a CRD applied a moment ago)."""
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        for fresh in (False, True):
            if fresh or base not in self._resources:
                try:
                    self._resources[base] = self.request("GET", base)["resources"]
                except KubeError as err:
                    if err.status != 404:
                        raise
                    self._resources[base] = []
            for entry in self._resources[base]:
                if entry["kind"] == kind and "/" not in entry["name"]:
                    return f"{base}/{entry['name']}", entry["namespaced"]
        raise KubeError(404, "NotFound", f"the cluster does not serve {kind} in {api_version}")

    def path(self, api_version: str, kind: str, namespace: str | None, name: str | None = None) -> str:
        base, namespaced = self.resource(api_version, kind)
        if namespaced and namespace:
            group_version, plural = base.rsplit("/", 1)
            base = f"{group_version}/namespaces/{quote(namespace)}/{plural}"
        return f"{base}/{quote(name, safe=':')}" if name else base

    # ---- verbs -----------------------------------------------------------------------------------------

    def apply(self, obj: dict[str, Any], manager: str, force: bool = False, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply; with `dry_run` the server answers the object it would persist and persists nothing."""
        meta = obj["metadata"]
        path = self.path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        params = {"fieldManager": manager}
        if force:
            params["force"] = "true"
        if dry_run:
            params["dryRun"] = "All"
        return self.request("PATCH", path, obj, APPLY, params)

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", self.path(api_version, kind, namespace, name))
        except KubeError as err:
            if err.status == 404:
                return None
            raise

    def list(self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None,
             field_selector: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
        params = {key: value for key, value in (("labelSelector", label_selector), ("fieldSelector", field_selector))
                  if value}  # fmt: skip
        return self.request("GET", self.path(api_version, kind, namespace), params=params or None)["items"]

    def merge_patch(self, api_version: str, kind: str, namespace: str | None, name: str,
                    patch: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        return self.request("PATCH", self.path(api_version, kind, namespace, name), patch,
                            "application/merge-patch+json")  # fmt: skip

    def evict(self, namespace: str, name: str) -> None:
        """Evict a pod through the Eviction API (policy/v1): the API server honours its PodDisruptionBudgets
        and answers 429 when one forbids it (a KubeError with that status)."""
        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": namespace}}
        self.request("POST", f"{self.path('v1', 'Pod', namespace, name)}/eviction", body)

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        """Delete one object; False if it was already gone (or its kind no longer exists)."""
        try:
            self.request("DELETE", self.path(api_version, kind, namespace, name))
        except KubeError as err:
            if err.status == 404:
                return False
            raise
        return True


def condition_true(obj: dict[str, Any] | None, type_: str = "Ready") -> bool:
    """The object's status condition `type_` is True (a Node's or a Pod's Ready)."""
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == type_ and c.get("status") == "True" for c in conditions)
