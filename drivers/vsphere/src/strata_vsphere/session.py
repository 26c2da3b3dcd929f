"""One logged-in vCenter session per driver: it logs in again when vCenter forgets it (session
expiry, a vCenter restart), waits for tasks, and reads many objects' properties in one call."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

from strata_common.clouds.driver import CloudError
from strata_vsphere.errors import cloud_error

T = TypeVar("T")
TASK_POLL_SECONDS = 0.2
CONNECT_SECONDS = 30


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    user: str
    password: str
    verify: bool = True
    ca_bundle: str | None = None  # PEM text of the CA that signed vCenter's certificate
    thumbprint: str | None = None  # or the certificate's SHA-1 thumbprint, pinned

    def connect(self) -> vim.ServiceInstance:
        if not self.verify or self.thumbprint:
            return SmartConnect(host=self.host, port=self.port, user=self.user, pwd=self.password,
                                disableSslCertValidation=True, thumbprint=self.thumbprint,
                                connectionPoolTimeout=-1, httpConnectionTimeout=CONNECT_SECONDS)  # fmt: skip
        context = ssl.create_default_context(cadata=self.ca_bundle) if self.ca_bundle else ssl.create_default_context()
        return SmartConnect(host=self.host, port=self.port, user=self.user, pwd=self.password, sslContext=context,
                            connectionPoolTimeout=-1, httpConnectionTimeout=CONNECT_SECONDS)  # fmt: skip


class Session:
    """Calls into vCenter with one re-login on NotAuthenticated; every fault becomes a CloudError."""

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint
        self._lock = threading.Lock()
        self._si: vim.ServiceInstance | None = None
        self._content: vim.ServiceInstanceContent | None = None

    @property
    def content(self) -> vim.ServiceInstanceContent:
        """The service content, read once per login (else every call would ask vCenter for it again)."""
        with self._lock:
            if self._si is None or self._content is None:
                try:
                    self._si = self.endpoint.connect()
                    self._content = self._si.RetrieveContent()
                except vmodl.MethodFault as fault:
                    raise cloud_error(fault) from None
                except OSError as err:
                    raise CloudError(
                        "unavailable", type(err).__name__, f"vCenter {self.endpoint.host}: {err}"
                    ) from None
            return self._content

    def call(self, action: Callable[[vim.ServiceInstanceContent], T]) -> T:
        """Run `action` on the session's content, logging in again once if vCenter dropped the session."""
        for attempt in (1, 2):
            try:
                return action(self.content)
            except vim.fault.NotAuthenticated:
                with self._lock:
                    self._si = self._content = None
                if attempt == 2:
                    raise CloudError("auth", "NotAuthenticated", "vCenter refused the session twice") from None
            except vmodl.MethodFault as fault:
                raise cloud_error(fault) from None
            except OSError as err:  # the connection dropped (vCenter restarting, a proxy): transient
                raise CloudError("unavailable", type(err).__name__, f"vCenter {self.endpoint.host}: {err}") from None
        raise AssertionError("unreachable")

    def wait(self, task: vim.Task, timeout: float = 600.0) -> Any:
        """The task's result once it succeeds; its fault as a CloudError when it fails."""
        deadline = time.monotonic() + timeout
        while True:
            info = task.info
            if info.state == vim.TaskInfo.State.success:
                return info.result
            if info.state == vim.TaskInfo.State.error:
                raise cloud_error(info.error)
            if time.monotonic() > deadline:
                raise CloudError(
                    "unavailable", "TaskTimeout", f"task {task._moId} still {info.state} after {timeout:.0f}s"
                )
            time.sleep(TASK_POLL_SECONDS)

    def collect(self, types: Iterable[type], props: list[str], root: Any = None) -> list[dict[str, Any]]:
        """`props` of every object of `types` under `root` (the whole inventory by default), in one
        PropertyCollector call: [{"obj": object, prop: value, ...}]."""

        def retrieve(content: vim.ServiceInstanceContent) -> list[dict[str, Any]]:
            view = content.viewManager.CreateContainerView(root or content.rootFolder, list(types), True)
            try:
                traversal = vmodl.query.PropertyCollector.TraversalSpec(
                    name="view", path="view", skip=False, type=vim.view.ContainerView
                )
                spec = vmodl.query.PropertyCollector.FilterSpec(
                    objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=view, skip=True, selectSet=[traversal])],
                    propSet=[vmodl.query.PropertyCollector.PropertySpec(type=t, pathSet=props) for t in types],
                )  # fmt: skip
                found = content.propertyCollector.RetrieveContents([spec])
            finally:
                view.Destroy()
            return [{"obj": o.obj, **{p.name: p.val for p in o.propSet}} for o in found]

        return self.call(retrieve)

    def cookie(self) -> str:
        """The session's cookie, for the HTTP transfers beside the SOAP API (an import's disks)."""
        self.content  # noqa: B018 - logs in when needed
        assert self._si is not None
        return str(self._si._stub.cookie)

    def close(self) -> None:
        with self._lock:
            if self._si is not None:
                Disconnect(self._si)
                self._si = self._content = None
