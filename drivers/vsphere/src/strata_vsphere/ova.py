"""An OS image's OVA imported into a datacenter as a VM template: the OVA (a tar of an OVF descriptor
and the disks it names) is downloaded to a temporary file, vCenter turns the descriptor into an
import spec (OvfManager.CreateImportSpec), ImportVApp opens an HttpNfcLease, each disk is uploaded to
the URL the lease gives it, and the VM is marked as a template."""

from __future__ import annotations

import tarfile
import tempfile
import time
from collections.abc import Callable
from typing import Any

import requests
from pyVmomi import vim

from strata_common.clouds.driver import INVALID, UNAVAILABLE, CloudError
from strata_vsphere.session import Session

LEASE_SECONDS = 120.0
CHUNK = 1 << 20


def import_template(session: Session, datacenter: vim.Datacenter, name: str, url: str,
                    tag: Callable[[Any, dict[str, str]], None]) -> vim.VirtualMachine:  # fmt: skip
    with tempfile.TemporaryFile() as archive:
        _download(url, archive)
        archive.seek(0)
        with tarfile.open(fileobj=archive) as ova:
            descriptor = next((m for m in ova.getmembers() if m.name.endswith(".ovf")), None)
            if descriptor is None:
                raise CloudError(INVALID, "OvfMissing", f"{url} holds no .ovf descriptor")
            ovf = ova.extractfile(descriptor).read().decode()  # type: ignore[union-attr]
            vm = _import(session, datacenter, name, ovf, ova)
    session.call(lambda _: vm.MarkAsTemplate())
    tag(vm, {"strata:token": f"ova:{url}", "strata:region": datacenter.name, "strata:ova": url})
    return vm


def _download(url: str, into: Any) -> None:
    try:
        with requests.get(url, stream=True, timeout=60) as answer:
            answer.raise_for_status()
            for chunk in answer.iter_content(CHUNK):
                into.write(chunk)
    except requests.RequestException as err:
        raise CloudError(UNAVAILABLE, "OvaDownloadFailed", f"{url}: {err}") from None


def _import(session: Session, datacenter: vim.Datacenter, name: str, ovf: str, ova: tarfile.TarFile) -> Any:
    def spec(content: vim.ServiceInstanceContent) -> Any:
        cluster = next(c for c in datacenter.hostFolder.childEntity if isinstance(c, vim.ComputeResource))
        params = vim.OvfManager.CreateImportSpecParams(entityName=name)
        made = content.ovfManager.CreateImportSpec(ovf, cluster.resourcePool, datacenter.datastore[0], params)
        if made.error:
            raise CloudError(INVALID, "OvfInvalid", "; ".join(e.msg or type(e).__name__ for e in made.error))
        return cluster.resourcePool, made

    pool, made = session.call(spec)
    lease = session.call(lambda _: pool.ImportVApp(made.importSpec, datacenter.vmFolder))
    deadline = time.monotonic() + LEASE_SECONDS
    while (state := session.call(lambda _: lease.state)) == vim.HttpNfcLease.State.initializing:
        if time.monotonic() > deadline:
            raise CloudError(UNAVAILABLE, "LeaseTimeout", f"vCenter's import lease for {name} never became ready")
        time.sleep(0.2)
    if state == vim.HttpNfcLease.State.error:
        raise CloudError(INVALID, "ImportFailed", str(session.call(lambda _: lease.error)))
    info = session.call(lambda _: lease.info)
    try:
        for item in made.fileItem or []:
            device = next(d for d in info.deviceUrl if d.importKey == item.deviceId)
            _upload(session, device.url, ova.extractfile(item.path), item.create)
    except BaseException:
        session.call(lambda _: lease.HttpNfcLeaseAbort())
        raise
    entity = info.entity
    session.call(lambda _: lease.HttpNfcLeaseComplete())
    return entity


def _upload(session: Session, url: str, disk: Any, create: bool) -> None:
    """One disk of the OVA to the lease's URL ("*" there stands for vCenter's own address)."""
    target = url.replace("*", session.endpoint.host)
    headers = {"Content-Type": "application/x-vnd.vmware-streamVmdk", "Cookie": session.cookie()}
    verify = session.endpoint.verify and not session.endpoint.thumbprint
    answer = requests.request("PUT" if create else "POST", target, data=disk, headers=headers, verify=verify,
                              timeout=3600)  # fmt: skip
    if answer.status_code >= 300:
        raise CloudError(UNAVAILABLE, "UploadFailed", f"{target}: HTTP {answer.status_code}")
