"""vCenter's faults in Strata's error vocabulary, in one place: what a user must fix (resources,
licences, credentials, a bad request) and what a retry fixes (a task in progress, an outage)."""

from __future__ import annotations

from pyVmomi import vim, vmodl

from strata_common.clouds.driver import AUTH, CAPACITY, CONFLICT, INVALID, NOT_FOUND, QUOTA, UNAVAILABLE, CloudError

KINDS: dict[str, str] = {
    "InsufficientResourcesFault": CAPACITY,
    "InsufficientHostCapacityFault": CAPACITY,
    "InsufficientCpuResourcesFault": CAPACITY,
    "InsufficientMemoryResourcesFault": CAPACITY,
    "InsufficientStorageSpace": CAPACITY,
    "NotEnoughLicenses": QUOTA,
    "InvalidLogin": AUTH,
    "NotAuthenticated": AUTH,
    "NoPermission": AUTH,
    "ManagedObjectNotFound": NOT_FOUND,
    "NotFound": NOT_FOUND,
    "TaskInProgress": CONFLICT,
    "DuplicateName": CONFLICT,
    "InvalidState": CONFLICT,
    "InvalidPowerState": CONFLICT,
    "InvalidArgument": INVALID,
    "InvalidRequest": INVALID,
    "NotSupported": INVALID,
    "HostCommunication": UNAVAILABLE,
    "HostNotConnected": UNAVAILABLE,
}


def _code(fault: BaseException) -> str:
    return type(fault).__name__.rsplit(".", 1)[-1]


def _message(fault: BaseException) -> str:
    said = getattr(fault, "msg", "") or ""
    details = [m.message for m in getattr(fault, "faultMessage", None) or [] if getattr(m, "message", "")]
    return "; ".join(dict.fromkeys(filter(None, [said, *details]))) or _code(fault)  # each sentence once


def cloud_error(fault: BaseException) -> CloudError:
    """The CloudError for a vmodl fault (raised by a call or carried by a failed task)."""
    code = _code(fault)
    kind = KINDS.get(code)
    if kind is None:
        kind = UNAVAILABLE if isinstance(fault, (vmodl.RuntimeFault, OSError)) else INVALID
        if isinstance(fault, vim.fault.InsufficientResourcesFault):
            kind = CAPACITY
    return CloudError(kind, code, _message(fault))
